//! Starting and stopping the HTTP server.

use std::net::SocketAddr;
use std::sync::Arc;

use crewtime_api::AppState;
use crewtime_persistence::{Store, StoreOptions};
use crewtime_realtime::RedisHealth;
use poem::listener::{Acceptor, Listener, TcpListener};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::config::Config;

/// A configured server, not yet listening.
pub struct Server {
    config: Config,
    state: AppState,
}

/// A server listening on a port, with a handle to stop it.
pub struct RunningServer {
    pub addr: SocketAddr,
    pub state: AppState,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
    relay: JoinHandle<()>,
}

impl Server {
    /// Connects to PostgreSQL (and Redis when configured). Does not migrate.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        crewtime_api::telemetry::prometheus();
        let mut opts = StoreOptions::new(config.database_url.clone());
        opts.max_connections = config.db_pool_size;
        let store = Store::connect(&opts).await?;
        let redis = match &config.redis_url {
            Some(url) => Some(Arc::new(
                RedisHealth::connect(url)
                    .await
                    .map_err(anyhow::Error::msg)?,
            )),
            None => None,
        };
        let state = AppState::new(store, config.api.clone(), redis);
        Ok(Self { config, state })
    }

    pub fn store(&self) -> &Store {
        &self.state.store
    }

    /// Binds `config.bind` (port 0 picks a free port) and serves until [`RunningServer::stop`]
    /// or the returned future's owner drops the sender.
    pub async fn start(self) -> anyhow::Result<RunningServer> {
        let acceptor = NoDelay(TcpListener::bind(self.config.bind).into_acceptor().await?);
        let addr = acceptor
            .local_addr()
            .into_iter()
            .find_map(|a| a.as_socket_addr().copied())
            .ok_or_else(|| anyhow::anyhow!("listener has no socket address"))?;
        let (tx, rx) = oneshot::channel::<()>();
        // Publishes live events whose node died between its commit and its publish.
        let mut relay_opts = StoreOptions::new(self.config.database_url.clone());
        relay_opts.max_connections = 1;
        let relay =
            crewtime_api::spawn_outbox_relay(Store::connect(&relay_opts).await?, &self.state);
        let app = crewtime_api::routes(self.state.clone());
        let grace = self.config.shutdown_grace;
        let task = tokio::spawn(async move {
            poem::Server::new_with_acceptor(acceptor)
                .run_with_graceful_shutdown(
                    app,
                    async move {
                        let _ = rx.await;
                    },
                    Some(grace),
                )
                .await
        });
        Ok(RunningServer {
            addr,
            state: self.state,
            shutdown: Some(tx),
            task,
            relay,
        })
    }
}

impl RunningServer {
    /// Stops accepting, lets in-flight requests finish (up to the grace period), then returns.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        (&mut self.task).await??;
        self.relay.abort();
        Ok(())
    }

    /// Serves until SIGTERM or Ctrl-C, then shuts down gracefully.
    pub async fn run_until_signal(self) -> anyhow::Result<()> {
        shutdown_signal().await;
        tracing::info!("shutdown signal received; draining");
        self.stop().await?;
        tracing::info!("stopped");
        Ok(())
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

/// Accepts TCP connections with Nagle's algorithm off. poem leaves it on, and a WebSocket
/// message written while the previous one waits for its ACK sat until the client's delayed ACK
/// (40 ms on Linux): one live delivery in about thirty took 40 ms more than the rest.
struct NoDelay(poem::listener::TcpAcceptor);

impl Acceptor for NoDelay {
    type Io = tokio::net::TcpStream;

    fn local_addr(&self) -> Vec<poem::web::LocalAddr> {
        self.0.local_addr()
    }

    async fn accept(
        &mut self,
    ) -> std::io::Result<(
        Self::Io,
        poem::web::LocalAddr,
        poem::web::RemoteAddr,
        poem::http::uri::Scheme,
    )> {
        let accepted = self.0.accept().await?;
        // A socket that refuses the option still serves; it only keeps Nagle's delays.
        if let Err(e) = accepted.0.set_nodelay(true) {
            tracing::debug!(error = %e, "could not turn Nagle's algorithm off");
        }
        Ok(accepted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn accepted_connections_have_nagle_off() {
        let mut acceptor = NoDelay(
            TcpListener::bind("127.0.0.1:0")
                .into_acceptor()
                .await
                .expect("binds"),
        );
        let addr = acceptor
            .local_addr()
            .into_iter()
            .find_map(|a| a.as_socket_addr().copied())
            .expect("address");
        let client = tokio::net::TcpStream::connect(addr);
        let (accepted, client) = tokio::join!(acceptor.accept(), client);
        let (stream, ..) = accepted.expect("accepted");
        client.expect("connected");
        assert!(stream.nodelay().expect("reads the option"));
    }
}
