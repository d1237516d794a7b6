//! The `kpi` command line: parse arguments, run on one tokio runtime, report errors on stderr
//! with an exit code.

mod cli;

/// mimalloc, as in DataFusion's own CLI: analytical queries allocate and free many large
/// buffers, which the system allocator hands back to the kernel and faults in again.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = match cli::Cli::try_parse() {
        Ok(args) => args,
        Err(err) => {
            // Help and version go to stdout with status 0; usage errors are user errors (1).
            let _ = err.print();
            return if err.use_stderr() {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let result = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| anyhow::anyhow!("cannot start the runtime: {e}"))
        .and_then(|runtime| runtime.block_on(cli::run(args)));
    match result {
        Ok(code) => code,
        // The reader of standard output went away (`| head`): nothing more to say.
        Err(_) if cli::output::closed_by_reader() => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            // Library errors often repeat their cause in their own message: print a cause only
            // when it adds something.
            let mut shown = err.to_string();
            for cause in err.chain().skip(1) {
                let text = cause.to_string();
                if !shown.contains(&text) {
                    eprintln!("  caused by: {text}");
                    shown = text;
                }
            }
            ExitCode::from(1)
        }
    }
}
