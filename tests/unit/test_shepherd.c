/* placeholder: being written */
#include "so_test.h"
int main(void) { static const so_test_case cases[] = {{NULL, NULL}}; return so_test_run("shepherd", cases); }
