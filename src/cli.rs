//! What the project's command-line programs share.

use std::error::Error;
use std::process::ExitCode;

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
