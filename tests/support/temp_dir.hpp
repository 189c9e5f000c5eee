// Test fixture: a fresh temporary directory, removed with everything in it at the end.
#pragma once

#include <boost/test/unit_test.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <system_error>

namespace spear::test {

class temp_dir {
public:
    /// Creates /tmp/<prefix>-XXXXXX (mkdtemp: unique, mode 0700).
    explicit temp_dir(std::string_view prefix = "spear-test") {
        auto pattern = (std::filesystem::temp_directory_path() / std::string(prefix)).string();
        pattern += "-XXXXXX";
        BOOST_REQUIRE_MESSAGE(::mkdtemp(pattern.data()) != nullptr,
                              "cannot create a temporary directory");
        path_ = pattern;
    }
    ~temp_dir() {
        std::error_code ignored;
        std::filesystem::remove_all(path_, ignored);
    }
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;

    const std::filesystem::path& path() const noexcept { return path_; }

    /// Writes `bytes` to `name` (relative to the directory; parents are created) and returns
    /// its full path.
    std::filesystem::path write(const std::filesystem::path& name, std::string_view bytes) const {
        const auto file = path_ / name;
        std::filesystem::create_directories(file.parent_path());
        std::ofstream out(file, std::ios::binary);
        out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
        BOOST_REQUIRE_MESSAGE(out.good(), "cannot write " + file.string());
        return file;
    }

private:
    std::filesystem::path path_;
};

} // namespace spear::test
