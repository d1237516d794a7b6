//! The terminal while a statement runs: what is typed is not echoed, so that the `^C` of a
//! cancel or keys typed ahead do not land in the middle of the spinner or the result. Typed
//! keys stay queued for the editor, which shows them at the next prompt.

use rustix::termios::{tcgetattr, tcsetattr, LocalModes, OptionalActions, Termios};

/// Echo turned off until dropped (nothing happens when standard input is not a terminal).
pub struct Unechoed {
    saved: Option<Termios>,
}

impl Unechoed {
    /// Turn echo off (and remember how it was).
    pub fn new() -> Unechoed {
        let stdin = std::io::stdin();
        let saved = tcgetattr(&stdin).ok().filter(|attrs| {
            let mut quiet = attrs.clone();
            quiet.local_modes -= LocalModes::ECHO | LocalModes::ECHOCTL;
            tcsetattr(&stdin, OptionalActions::Now, &quiet).is_ok()
        });
        Unechoed { saved }
    }
}

impl Default for Unechoed {
    fn default() -> Unechoed {
        Unechoed::new()
    }
}

impl Drop for Unechoed {
    fn drop(&mut self) {
        if let Some(saved) = &self.saved {
            let _ = tcsetattr(std::io::stdin(), OptionalActions::Now, saved);
        }
    }
}
