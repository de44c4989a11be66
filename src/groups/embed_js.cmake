# Writes the browser module (IN) into a C++ source (OUT) as one raw string.
file(READ ${IN} content)
file(WRITE ${OUT} "// Generated from src/groups/web/groups.js at build time.\nnamespace osprey::groups {\nextern const char* const kGroupsJs;\nconst char* const kGroupsJs = R\"GROUPSJS(${content})GROUPSJS\";\n}\n")
