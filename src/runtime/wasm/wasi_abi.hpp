// WASI preview1 ABI constants used by the in-memory WASI layer: errno values, rights, file
// types and struct layouts, as in wasi-libc's <wasi/api.h> (witx-generated, little-endian).
#pragma once

#include <cstdint>

namespace spear::runtime::wasm::wasi_abi {

/// The import module every WASI preview1 function lives in.
inline constexpr const char* module_name = "wasi_snapshot_preview1";

// --- errno (only the values this layer returns) -------------------------------------------
inline constexpr std::uint16_t errno_success = 0;
inline constexpr std::uint16_t errno_acces = 2;
inline constexpr std::uint16_t errno_badf = 8;
inline constexpr std::uint16_t errno_exist = 20;
inline constexpr std::uint16_t errno_fault = 21;
inline constexpr std::uint16_t errno_inval = 28;
inline constexpr std::uint16_t errno_io = 29;
inline constexpr std::uint16_t errno_isdir = 31;
inline constexpr std::uint16_t errno_loop = 32;
inline constexpr std::uint16_t errno_mfile = 33;
inline constexpr std::uint16_t errno_nametoolong = 37;
inline constexpr std::uint16_t errno_noent = 44;
inline constexpr std::uint16_t errno_nosys = 52;
inline constexpr std::uint16_t errno_notdir = 54;
inline constexpr std::uint16_t errno_notsup = 58;
inline constexpr std::uint16_t errno_overflow = 61;
inline constexpr std::uint16_t errno_perm = 63;
inline constexpr std::uint16_t errno_rofs = 69;
inline constexpr std::uint16_t errno_spipe = 70;
inline constexpr std::uint16_t errno_notcapable = 76;

// --- clocks ---------------------------------------------------------------------------------
inline constexpr std::uint32_t clock_realtime = 0;
inline constexpr std::uint32_t clock_monotonic = 1;
inline constexpr std::uint32_t clock_process_cputime = 2;
inline constexpr std::uint32_t clock_thread_cputime = 3;

// --- file types -----------------------------------------------------------------------------
inline constexpr std::uint8_t filetype_unknown = 0;
inline constexpr std::uint8_t filetype_block_device = 1;
inline constexpr std::uint8_t filetype_character_device = 2;
inline constexpr std::uint8_t filetype_directory = 3;
inline constexpr std::uint8_t filetype_regular_file = 4;
inline constexpr std::uint8_t filetype_symbolic_link = 7;

// --- rights ---------------------------------------------------------------------------------
inline constexpr std::uint64_t right_fd_read = 1ull << 1;
inline constexpr std::uint64_t right_fd_seek = 1ull << 2;
inline constexpr std::uint64_t right_fd_tell = 1ull << 5;
inline constexpr std::uint64_t right_fd_write = 1ull << 6;
inline constexpr std::uint64_t right_fd_allocate = 1ull << 8;
inline constexpr std::uint64_t right_path_create_directory = 1ull << 9;
inline constexpr std::uint64_t right_path_create_file = 1ull << 10;
inline constexpr std::uint64_t right_path_open = 1ull << 13;
inline constexpr std::uint64_t right_fd_readdir = 1ull << 14;
inline constexpr std::uint64_t right_path_filestat_get = 1ull << 18;
inline constexpr std::uint64_t right_path_filestat_set_size = 1ull << 19;
inline constexpr std::uint64_t right_fd_filestat_get = 1ull << 21;
inline constexpr std::uint64_t right_fd_filestat_set_size = 1ull << 22;
inline constexpr std::uint64_t right_fd_filestat_set_times = 1ull << 23;
inline constexpr std::uint64_t right_poll_fd_readwrite = 1ull << 27;

/// Rights that would change a file: refused everywhere (mapped directories are read-only).
inline constexpr std::uint64_t rights_that_write =
    right_fd_write | right_fd_allocate | right_path_create_directory | right_path_create_file |
    right_path_filestat_set_size | right_fd_filestat_set_size | right_fd_filestat_set_times;

// --- open, lookup and fd flags --------------------------------------------------------------
inline constexpr std::uint16_t oflag_creat = 1 << 0;
inline constexpr std::uint16_t oflag_directory = 1 << 1;
inline constexpr std::uint16_t oflag_excl = 1 << 2;
inline constexpr std::uint16_t oflag_trunc = 1 << 3;
inline constexpr std::uint16_t fdflag_append = 1 << 0;
inline constexpr std::uint32_t lookupflag_symlink_follow = 1 << 0;
inline constexpr std::uint8_t whence_set = 0;
inline constexpr std::uint8_t whence_cur = 1;
inline constexpr std::uint8_t whence_end = 2;

// --- poll_oneoff ----------------------------------------------------------------------------
inline constexpr std::uint8_t eventtype_clock = 0;
inline constexpr std::uint8_t eventtype_fd_read = 1;
inline constexpr std::uint8_t eventtype_fd_write = 2;
inline constexpr std::uint16_t subclock_abstime = 1 << 0;
inline constexpr std::uint16_t eventrw_hangup = 1 << 0;

// --- struct layouts (sizes and field offsets in bytes) ---------------------------------------
inline constexpr std::uint32_t iovec_size = 8;         ///< buf u32 @0, buf_len u32 @4
inline constexpr std::uint32_t fdstat_size = 24;       ///< filetype u8 @0, flags u16 @2,
                                                       ///< rights_base u64 @8, inheriting u64 @16
inline constexpr std::uint32_t filestat_size = 64;     ///< dev @0, ino @8, filetype u8 @16,
                                                       ///< nlink @24, size @32, atim @40,
                                                       ///< mtim @48, ctim @56
inline constexpr std::uint32_t prestat_size = 8;       ///< tag u8 @0 (0 = dir), name_len u32 @4
inline constexpr std::uint32_t dirent_size = 24;       ///< d_next @0, d_ino @8, d_namlen u32 @16,
                                                       ///< d_type u8 @20; the name follows
inline constexpr std::uint32_t subscription_size = 48; ///< userdata @0, tag u8 @8, then at @16:
                                                       ///< clock id u32, timeout u64 @24,
                                                       ///< precision u64 @32, flags u16 @40;
                                                       ///< or fd u32 @16
inline constexpr std::uint32_t event_size = 32;        ///< userdata @0, error u16 @8, type u8 @10,
                                                       ///< nbytes u64 @16, flags u16 @24

} // namespace spear::runtime::wasm::wasi_abi
