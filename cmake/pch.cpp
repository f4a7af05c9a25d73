// Anchor for the shared precompiled header (LibTorch, fmt, json, toml++).
