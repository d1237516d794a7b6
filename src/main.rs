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
    // A panic (in a dependency, reached by an odd value) is reported once, as the error of the
    // statement or command that met it, never as a crash; RUST_BACKTRACE=1 shows where it was.
    if std::env::var_os("RUST_BACKTRACE").is_none() {
        std::panic::set_hook(Box::new(|_| {}));
    }
    let result = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| anyhow::anyhow!("cannot start the runtime: {e}"))
        .and_then(|runtime| {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                runtime.block_on(cli::run(args))
            }))
            .unwrap_or_else(|panic| Err(kpi::session::unwind::panic_error(panic).into()))
        });
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
