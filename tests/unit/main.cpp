// Boost.Test entry point shared by the unit suites.
#define BOOST_TEST_MODULE spear_unit_tests
#include <boost/test/unit_test.hpp>
