/*
 * test_config.c - the values of the HEADERSHIM_* variables, as the library
 * and the command both parse them (shim/core/config.c).
 */
#include <check.h>
#include <stdlib.h>

#include "headershim.h"

START_TEST(choice_takes_whole_words_only)
{
    ck_assert_int_eq(hs_config_choice("enforce", "enforce|report|off"), 0);
    ck_assert_int_eq(hs_config_choice("report", "enforce|report|off"), 1);
    ck_assert_int_eq(hs_config_choice("off", "enforce|report|off"), 2);
    ck_assert_int_eq(hs_config_choice("rep", "enforce|report|off"), -1);
    ck_assert_int_eq(hs_config_choice("reportx", "enforce|report|off"), -1);
    ck_assert_int_eq(hs_config_choice("", "enforce|report|off"), -1);
    ck_assert_int_eq(hs_config_choice("Report", "enforce|report|off"), -1);
    ck_assert_int_eq(hs_config_choice("tcp,unix", "tcp|tcp,unix|unix,tcp"), 1);
}
END_TEST

START_TEST(size_is_digits_from_1_to_the_limit)
{
    size_t v = 7;
    ck_assert(hs_config_size("1", &v) && v == 1);
    ck_assert(hs_config_size("65536", &v) && v == 65536);
    ck_assert(hs_config_size("1048576", &v) && v == 1048576);
    ck_assert(hs_config_size("001024", &v) && v == 1024);
    static const char *bad[] = {"", "0", "1048577", "99999999999999999999999",
                                " 8", "8 ", "+8", "-1", "0x10", "64k", "1e3"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        v = 7;
        ck_assert_msg(!hs_config_size(bad[i], &v), "'%s' accepted", bad[i]);
        ck_assert_uint_eq(v, 7);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("config");
    TCase *t = tcase_create("values");
    tcase_add_test(t, choice_takes_whole_words_only);
    tcase_add_test(t, size_is_digits_from_1_to_the_limit);
    suite_add_tcase(s, t);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
