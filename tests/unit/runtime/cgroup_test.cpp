// Tests of platform/cgroup's pure parts (the process runtime's per-execution cgroups stand on
// them): /proc/self/cgroup's v2 line, cgroup2 mounts in mountinfo, joining the two, and the
// flat-keyed files (cgroup.events, cpu.stat, cgroup.controllers). The file-system side is
// driven by tests/functional/test_cgroups.py.
#include "platform/cgroup.hpp"

#include <boost/test/unit_test.hpp>

#include <string>
#include <vector>

namespace cg = spear::platform::cgroup;

BOOST_AUTO_TEST_SUITE(platform_cgroup)

BOOST_AUTO_TEST_CASE(unified_path_is_the_zero_line) {
    // A hybrid host (this machine's kind): v1 hierarchies and the v2 "0::" line.
    const std::string hybrid = "9:name=systemd:/\n4:memory:/process_api/773f\n1:cpu:/\n0::/\n";
    BOOST_TEST(cg::unified_path(hybrid).value() == "/");
    BOOST_TEST(cg::unified_path("0::/system.slice/spearlet.service\n").value() ==
               "/system.slice/spearlet.service");
    BOOST_TEST(cg::unified_path("0::/a b/c").value() == "/a b/c");       // no trailing newline
    BOOST_TEST(!cg::unified_path("4:memory:/x\n1:cpu:/\n").has_value()); // v1 only
    BOOST_TEST(!cg::unified_path("").has_value());
    // "10::" is not the v2 line.
    BOOST_TEST(!cg::unified_path("10::/x\n").has_value());
}

BOOST_AUTO_TEST_CASE(cgroup2_mounts_are_found_among_v1_and_other_mounts) {
    const std::string mountinfo =
        "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
        "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
        "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n"
        // Optional fields before the separator, and an escaped space in the mount point.
        "50 23 0:38 /sub /mnt/my\\040cg rw shared:5 master:1 - cgroup2 none rw,nsdelegate\n"
        "60 23 0:40 / /mnt/trap rw - ext4 /dev/sda1 rw\n"
        "bad line\n";
    const auto mounts = cg::cgroup2_mounts(mountinfo);
    BOOST_REQUIRE_EQUAL(mounts.size(), 2u);
    BOOST_TEST(mounts[0].root == "/");
    BOOST_TEST(mounts[0].point == "/sys/fs/cgroup/unified");
    BOOST_TEST(mounts[1].root == "/sub");
    BOOST_TEST(mounts[1].point == "/mnt/my cg");
    BOOST_TEST(cg::cgroup2_mounts("").empty());
}

BOOST_AUTO_TEST_CASE(directory_joins_the_path_to_the_mount_showing_it) {
    const std::vector<cg::mount> unified{{"/", "/sys/fs/cgroup/unified"}};
    BOOST_TEST(cg::directory_of("/", unified).value() == "/sys/fs/cgroup/unified");
    BOOST_TEST(cg::directory_of("/system.slice/spearlet.service", unified).value() ==
               "/sys/fs/cgroup/unified/system.slice/spearlet.service");
    const std::vector<cg::mount> pure{{"/", "/sys/fs/cgroup/"}};
    BOOST_TEST(cg::directory_of("/a", pure).value() == "/sys/fs/cgroup/a");
    // A bind mount of a subtree shows only what lies below its root.
    const std::vector<cg::mount> sub{{"/sub", "/mnt/cg"}, {"/", "/sys/fs/cgroup"}};
    BOOST_TEST(cg::directory_of("/sub/x", sub).value() == "/mnt/cg/x");
    BOOST_TEST(cg::directory_of("/sub", sub).value() == "/mnt/cg");
    BOOST_TEST(cg::directory_of("/subway", sub).value() == "/sys/fs/cgroup/subway");
    BOOST_TEST(!cg::directory_of("/x", {{"/sub", "/mnt/cg"}}).has_value());
    BOOST_TEST(!cg::directory_of("/x", {}).has_value());
}

BOOST_AUTO_TEST_CASE(populated_is_read_from_cgroup_events) {
    BOOST_TEST(cg::populated_in("populated 1\nfrozen 0\n").value() == true);
    BOOST_TEST(cg::populated_in("populated 0\nfrozen 0\n").value() == false);
    BOOST_TEST(cg::populated_in("frozen 0\npopulated 1").value() == true);
    BOOST_TEST(!cg::populated_in("frozen 0\n").has_value());
    BOOST_TEST(!cg::populated_in("populated 2\n").has_value());
    BOOST_TEST(!cg::populated_in("populated x\n").has_value());
    BOOST_TEST(!cg::populated_in("populatedx 1\n").has_value());
}

BOOST_AUTO_TEST_CASE(flat_values_and_words) {
    const std::string stat = "usage_usec 123456\nuser_usec 100000\nsystem_usec 23456\n";
    BOOST_TEST(cg::flat_value(stat, "usage_usec").value() == 123456u);
    BOOST_TEST(cg::flat_value(stat, "system_usec").value() == 23456u);
    BOOST_TEST(!cg::flat_value(stat, "usage").has_value());
    BOOST_TEST(!cg::flat_value("usage_usec -1\n", "usage_usec").has_value());
    BOOST_TEST((cg::words("cpuset cpu io memory pids\n") ==
                std::vector<std::string>{"cpuset", "cpu", "io", "memory", "pids"}));
    BOOST_TEST(cg::words("\n").empty());
}

BOOST_AUTO_TEST_SUITE_END()
