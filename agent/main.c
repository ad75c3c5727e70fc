/* Placeholder replaced by the CLI (issue 2). */
#include <stdio.h>
int main(void) {
    puts("wovenet " WOVENET_VERSION);
    return 0;
}
