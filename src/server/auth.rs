//! The start of a connection: TLS required or not, the database name, then a SCRAM-SHA-256
//! exchange against the user's stored verifier — the only way in. An unknown user goes
//! through the same exchange against a decoy and fails at the same step with the same
//! message as a wrong password, so the server does not tell which names exist. Once the proof
//! checks out, the connection gets its user's role and a key for cancel requests.

use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use futures::{Sink, SinkExt};
use pgwire::api::auth::{
    finish_authentication, protocol_negotiation, save_startup_parameters_to_metadata,
    DefaultServerParameterProvider, StartupHandler,
};
use pgwire::api::{ClientInfo, PgWireConnectionState, PidSecretKeyGenerator};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::startup::{Authentication, PasswordMessageFamily};
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use tokio::sync::Mutex;

use super::access::{Access, DATABASE};
use super::connection::ConnectionState;
use super::scram::{self, Challenge, Verifier};
use super::Shared;

/// Whether a SASLInitialResponse body holds what it announces: a mechanism name ended by NUL,
/// then a length, then that many bytes (or -1 for none). The protocol decoder trusts the
/// lengths; a client must not be able to make it read past the message.
fn initial_response_fits(body: &[u8]) -> bool {
    let Some(nul) = body.iter().position(|b| *b == 0) else {
        return false;
    };
    let rest = &body[nul + 1..];
    let Some(len) = rest
        .get(..4)
        .map(|b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    else {
        return false;
    };
    len == -1 || (len >= 0 && rest.len() - 4 >= len as usize)
}

/// A fatal error at start-up, which closes the connection.
pub(super) fn fatal(code: &str, message: impl Into<String>) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "FATAL".to_string(),
        code.to_string(),
        message.into(),
    )))
}

enum Step {
    /// Waiting for the startup message.
    Startup,
    /// The mechanism was offered; waiting for the client's first message.
    First,
    /// The challenge was sent; waiting for the proof.
    Last(Box<Challenge>),
    /// Authenticated (or failed: the connection is being closed).
    Done,
}

/// The startup handler of one connection.
pub(super) struct Startup {
    shared: Arc<Shared>,
    conn: Arc<ConnectionState>,
    step: Mutex<Step>,
}

impl Startup {
    pub(super) fn new(shared: Arc<Shared>, conn: Arc<ConnectionState>) -> Startup {
        Startup {
            shared,
            conn,
            step: Mutex::new(Step::Startup),
        }
    }

    fn parameters(&self, user: &str) -> DefaultServerParameterProvider {
        let mut params = DefaultServerParameterProvider::default();
        params.server_version = format!("16.6-kpi-{}", env!("CARGO_PKG_VERSION"));
        params.is_superuser = false;
        params.default_transaction_read_only = true;
        params.session_authorization = Some(user.to_string());
        params
    }
}

fn user_of<C: ClientInfo>(client: &C) -> String {
    client.metadata().get("user").cloned().unwrap_or_default()
}

#[async_trait]
impl StartupHandler for Startup {
    async fn on_startup<C>(
        &self,
        client: &mut C,
        message: PgWireFrontendMessage,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let mut step = self.step.lock().await;
        match (&*step, message) {
            (Step::Startup, PgWireFrontendMessage::Startup(startup)) => {
                protocol_negotiation(client, &startup).await?;
                save_startup_parameters_to_metadata(client, &startup);
                *step = Step::Done;
                let user = user_of(client);
                if user.is_empty() {
                    return Err(fatal("28000", "no user name was given"));
                }
                let database = client.metadata().get("database").cloned();
                let database = database.unwrap_or_else(|| user.clone());
                if database != DATABASE {
                    return Err(fatal(
                        "3D000",
                        format!("database \"{database}\" does not exist: connect to database \"{DATABASE}\""),
                    ));
                }
                if self.shared.config.require_tls && !client.is_secure() {
                    self.shared.log(&format!(
                        "refused a connection without TLS from {}",
                        client.socket_addr()
                    ));
                    return Err(fatal(
                        "28000",
                        "this server requires TLS (require_tls = true): connect with sslmode=require",
                    ));
                }
                client.set_state(PgWireConnectionState::AuthenticationInProgress);
                client
                    .send(PgWireBackendMessage::Authentication(Authentication::SASL(
                        vec![scram::MECHANISM.to_string()],
                    )))
                    .await?;
                *step = Step::First;
            }
            (Step::First, PgWireFrontendMessage::PasswordMessageFamily(message)) => {
                *step = Step::Done;
                if let PasswordMessageFamily::Raw(body) = &message {
                    if !initial_response_fits(body) {
                        return Err(fatal("08P01", "malformed SASL message"));
                    }
                }
                let first = message.into_sasl_initial_response()?;
                if first.auth_method != scram::MECHANISM {
                    return Err(fatal(
                        "28000",
                        format!(
                            "authentication method {} is not supported: use SCRAM-SHA-256",
                            first.auth_method
                        ),
                    ));
                }
                let data = first.data.unwrap_or_default();
                let text = std::str::from_utf8(&data)
                    .map_err(|_| fatal("08P01", "malformed SCRAM message"))?;
                let user = user_of(client);
                let verifier = match self.shared.users.get(&user) {
                    Some(known) => known.verifier.clone(),
                    None => Verifier::decoy(&user, &self.shared.decoy_secret),
                };
                let (server_first, challenge) =
                    scram::challenge(text, verifier).map_err(|e| fatal("08P01", e.to_string()))?;
                client
                    .send(PgWireBackendMessage::Authentication(
                        Authentication::SASLContinue(server_first.into_bytes().into()),
                    ))
                    .await?;
                *step = Step::Last(Box::new(challenge));
            }
            (Step::Last(_), PgWireFrontendMessage::PasswordMessageFamily(message)) => {
                let Step::Last(challenge) = std::mem::replace(&mut *step, Step::Done) else {
                    unreachable!("matched above");
                };
                let last = message.into_sasl_response()?;
                let user = user_of(client);
                let addr = client.socket_addr();
                let known = self.shared.users.get(&user);
                let verified = std::str::from_utf8(&last.data)
                    .map_err(|_| scram::ScramError::Protocol("utf-8"))
                    .and_then(|text| challenge.verify(text));
                let (known, server_final) = match (known, verified) {
                    (Some(known), Ok(server_final)) => (known, server_final),
                    (_, Err(scram::ScramError::Protocol(what))) => {
                        return Err(fatal("08P01", format!("malformed SCRAM message ({what})")))
                    }
                    _ => {
                        self.shared.log(&format!(
                            "authentication failed for user \"{user}\" from {addr}"
                        ));
                        return Err(fatal(
                            "28P01",
                            format!("password authentication failed for user \"{user}\""),
                        ));
                    }
                };
                client
                    .send(PgWireBackendMessage::Authentication(
                        Authentication::SASLFinal(server_final.into_bytes().into()),
                    ))
                    .await?;
                let (pid, key) = self.shared.keys.generate(client);
                client.set_pid_and_secret_key(pid, key.clone());
                self.conn.grant.set(
                    Access::new(
                        known.role,
                        &self.shared.config.viewer_tables,
                        self.shared.config.statement_timeout,
                    )
                    .existing(&self.shared.tables),
                );
                self.shared.register(pid, &key, &self.conn);
                self.shared.log(&format!(
                    "{user} ({}) connected from {addr}{}",
                    known.role,
                    if client.is_secure() { " over TLS" } else { "" }
                ));
                finish_authentication(client, &self.parameters(&user)).await?;
            }
            (
                _,
                PgWireFrontendMessage::Startup(_) | PgWireFrontendMessage::PasswordMessageFamily(_),
            ) => {
                *step = Step::Done;
                return Err(fatal("08P01", "unexpected message during authentication"));
            }
            // SSL and GSS negotiation requests are answered by the protocol layer.
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn initial_responses_must_hold_what_they_announce() {
        use super::initial_response_fits as fits;
        assert!(fits(b"SCRAM-SHA-256\0\0\0\0\x03abc"));
        assert!(fits(b"SCRAM-SHA-256\0\xff\xff\xff\xff"));
        assert!(!fits(b"SCRAM-SHA-256"));
        assert!(!fits(b"SCRAM-SHA-256\0\0\0"));
        assert!(!fits(b"SCRAM-SHA-256\0\0\0\0\x09abc"));
        assert!(!fits(b"SCRAM-SHA-256\0\xff\xff\xff\xfe"));
    }
}
