//! What the programs built on the library write: output files, whole or not at all
//! (`gradcam-data`'s, re-exported), and errors, as a chain of causes.

use std::error::Error;
use std::process::ExitCode;

pub use crate::data::output::{OutputError, ensure_dir, write_atomic};

/// Turns a program's result into its exit code, printing an error as `error: …` followed by its
/// chain of causes (one `caused by:` line each) on standard error — no backtrace.
pub fn exit_code(result: Result<(), Box<dyn Error>>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            let mut source = error.source();
            while let Some(cause) = source {
                eprintln!("  caused by: {cause}");
                source = cause.source();
            }
            ExitCode::FAILURE
        }
    }
}
