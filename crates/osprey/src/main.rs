//! The `osprey` command: `osprey serve [DIR]` serves a folder, `osprey
//! hash-password` makes a password hash for `--auth`.
//!
//! Errors a user can fix (a bad flag, a missing folder, a busy port) print one
//! line, `osprey: …`, and exit with status 2; `--help` and `--version` print to
//! stdout and exit 0.

mod cli;

fn main() {
    std::process::exit(cli::main());
}
