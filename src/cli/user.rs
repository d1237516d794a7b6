//! `kpi user`: the users of `kpi serve` (add, list, passwd, role, remove), kept in the
//! workspace's `users.toml` as SCRAM-SHA-256 verifiers.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};

use kpi::server::users::{Role, Users};
use kpi::shell::repl::terminal::Unechoed;
use kpi::workspace::Workspace;

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a user with a role: admin and analyst read everything, viewer only the aggregate
    /// tables. The password is asked for without echo, or read from --password-stdin.
    Add {
        name: String,
        #[arg(long, value_parser = parse_role)]
        role: Role,
        #[command(flatten)]
        password: PasswordSource,
    },
    /// List the users and their roles.
    List,
    /// Change a user's password.
    Passwd {
        name: String,
        #[command(flatten)]
        password: PasswordSource,
    },
    /// Change a user's role.
    Role {
        name: String,
        #[arg(value_parser = parse_role)]
        role: Role,
    },
    /// Remove a user.
    Remove { name: String },
}

#[derive(Debug, Args)]
pub struct PasswordSource {
    /// Read the password from the first line of standard input (for scripts).
    #[arg(long)]
    password_stdin: bool,
}

fn parse_role(value: &str) -> Result<Role, String> {
    value.parse()
}

/// The password, from standard input or a no-echo prompt asked twice.
fn password(source: &PasswordSource, name: &str) -> Result<String> {
    let stdin = std::io::stdin();
    if source.password_stdin {
        let mut line = String::new();
        stdin
            .lock()
            .read_line(&mut line)
            .context("cannot read the password from standard input")?;
        return Ok(line.trim_end_matches(['\r', '\n']).to_string());
    }
    if !stdin.is_terminal() {
        bail!("standard input is not a terminal: pass the password with --password-stdin");
    }
    let ask = |prompt: &str| -> Result<String> {
        let mut err = std::io::stderr();
        write!(err, "{prompt}")?;
        err.flush()?;
        let mut line = String::new();
        {
            let _quiet = Unechoed::new();
            stdin.lock().read_line(&mut line)?;
        }
        writeln!(err)?;
        Ok(line.trim_end_matches(['\r', '\n']).to_string())
    };
    let first = ask(&format!("password for {name}: "))?;
    let again = ask("again: ")?;
    if first != again {
        bail!("the two passwords differ; nothing was changed");
    }
    Ok(first)
}

pub fn run(ws: &Workspace, command: UserCommand) -> Result<ExitCode> {
    let path = Users::file(ws.root());
    let mut users = Users::load(&path)?;
    let mut out = super::output::stdout();
    match command {
        UserCommand::List => {
            if users.is_empty() {
                writeln!(
                    out,
                    "no users in {}: add one with `kpi user add NAME --role ROLE`",
                    path.display()
                )?;
            }
            for user in users.iter() {
                writeln!(out, "{:<24} {}", user.name, user.role)?;
            }
            out.flush()?;
            return Ok(ExitCode::SUCCESS);
        }
        UserCommand::Add {
            name,
            role,
            password: source,
        } => {
            ws.require_writable("kpi user add")?;
            if users.get(&name).is_some() {
                bail!("user '{name}' already exists (kpi user passwd changes a password)");
            }
            users.add(&name, role, &password(&source, &name)?)?;
            users.save()?;
            writeln!(out, "added {name} ({role}) to {}", path.display())?;
        }
        UserCommand::Passwd {
            name,
            password: source,
        } => {
            ws.require_writable("kpi user passwd")?;
            if users.get(&name).is_none() {
                bail!("no user '{name}' in {}", path.display());
            }
            users.set_password(&name, &password(&source, &name)?)?;
            users.save()?;
            writeln!(out, "changed the password of {name}")?;
        }
        UserCommand::Role { name, role } => {
            ws.require_writable("kpi user role")?;
            users.set_role(&name, role)?;
            users.save()?;
            writeln!(out, "{name} is now {role}")?;
        }
        UserCommand::Remove { name } => {
            ws.require_writable("kpi user remove")?;
            users.remove(&name)?;
            users.save()?;
            writeln!(out, "removed {name}")?;
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
