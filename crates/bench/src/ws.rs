//! A graphql-transport-ws client: one socket, any number of subscriptions on it.

use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

pub struct Ws {
    pub sink: SplitSink<Socket, Message>,
    pub stream: SplitStream<Socket>,
}

impl Ws {
    /// Connects and completes `connection_init` with `token`.
    pub async fn connect(base: &str, token: &str) -> Result<Self> {
        let url = base.replace("http://", "ws://") + "/graphql";
        let mut req = url.into_client_request()?;
        req.headers_mut().insert(
            "sec-websocket-protocol",
            HeaderValue::from_static("graphql-transport-ws"),
        );
        // A small read buffer: the library zero-fills its whole read buffer (128 KiB by
        // default) on every read, which made the load generator, on the same cores as the
        // servers, spend 9% of the machine on memset during fan-out (and 8% of its own CPU
        // still at 8 KiB; a change is about 150 bytes).
        let config = WebSocketConfig::default().read_buffer_size(2 * 1024);
        let (socket, _) = tokio_tungstenite::connect_async_with_config(req, Some(config), true)
            .await
            .context("WebSocket upgrade")?;
        let (mut sink, mut stream) = socket.split();
        sink.send(Message::text(
            json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {token}") } })
                .to_string(),
        ))
        .await?;
        let ack = next_json(&mut stream, Duration::from_secs(30)).await?;
        if ack["type"] != "connection_ack" {
            bail!("expected connection_ack, got {ack}");
        }
        Ok(Self { sink, stream })
    }

    pub async fn subscribe(&mut self, id: &str, query: &str, variables: Value) -> Result<()> {
        self.sink
            .send(Message::text(
                json!({ "id": id, "type": "subscribe", "payload": { "query": query, "variables": variables } })
                    .to_string(),
            ))
            .await?;
        Ok(())
    }
}

/// The next JSON message, skipping pings and pongs; an error on close, a socket fault or the timeout.
pub async fn next_json(stream: &mut SplitStream<Socket>, wait: Duration) -> Result<Value> {
    loop {
        let frame = tokio::time::timeout(wait, stream.next())
            .await
            .map_err(|_| anyhow!("no message within {wait:?}"))?;
        match frame {
            Some(Ok(Message::Text(t))) => {
                let v: Value = serde_json::from_str(&t).context("JSON message")?;
                if v["type"] == "ping" || v["type"] == "pong" {
                    continue;
                }
                return Ok(v);
            }
            Some(Ok(Message::Close(f))) => bail!("socket closed: {f:?}"),
            Some(Ok(_)) => continue,
            Some(Err(e)) => bail!("socket: {e}"),
            None => bail!("socket ended"),
        }
    }
}
