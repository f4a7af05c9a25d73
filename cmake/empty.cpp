// Empty translation unit: lets a module library exist before its folder has sources.
