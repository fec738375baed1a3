/* wire: placeholder until the codec lands (issue 4). */
#include "core.h"
void corral_open_wire(lua_State *L) { (void)L; }
