//! The Baton `.c1z` file: a `C1ZF\0` header and one zstd frame of a SQLite
//! database with the `v1_*` tables. Writer and reader.
