/*
 * Declares every <name>_suite() (force-included into each test file by the Makefile), so a
 * suite definition always has its prototype.
 */
#ifndef T_SUITES_H
#define T_SUITES_H

#include <check.h>

#define GW_SUITE(name) Suite *name##_suite(void);
#include "suites.h"
#undef GW_SUITE

#endif
