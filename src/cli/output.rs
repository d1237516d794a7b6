//! Standard output of every command. A reader that goes away (`kpi sql … | head`) ends the
//! command quietly with status 0, as ripgrep does: writes that meet a closed pipe are noted
//! here, and `main` treats the failure they cause as success.

use std::io::{self, BufWriter, StdoutLock, Write};
use std::sync::atomic::{AtomicBool, Ordering};

static CLOSED: AtomicBool = AtomicBool::new(false);

/// Buffered standard output that notes a closed pipe.
pub struct Stdout {
    inner: BufWriter<StdoutLock<'static>>,
}

/// The command's standard output.
pub fn stdout() -> Stdout {
    Stdout {
        inner: BufWriter::new(io::stdout().lock()),
    }
}

fn note(err: io::Error) -> io::Error {
    if err.kind() == io::ErrorKind::BrokenPipe {
        CLOSED.store(true, Ordering::Relaxed);
    }
    err
}

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf).map_err(note)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush().map_err(note)
    }
}

/// Whether a write to standard output met a pipe closed by its reader: the command's
/// failure is then only that, whatever error type carried it up.
pub fn closed_by_reader() -> bool {
    CLOSED.load(Ordering::Relaxed)
}
