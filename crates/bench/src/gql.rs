//! A GraphQL-over-HTTP client that checks every answer: a response counts only with status 200,
//! a JSON body, no `errors` and the data the caller's check expects.

use anyhow::{anyhow, bail, Context, Result};
use serde_json::{json, Value};

#[derive(Clone)]
pub struct Gql {
    pub http: reqwest::Client,
    pub url: String,
    pub token: Option<String>,
}

impl Gql {
    pub fn new(http: reqwest::Client, base: &str, token: Option<String>) -> Self {
        Self {
            http,
            url: format!("{base}/graphql"),
            token,
        }
    }

    /// Sends one operation and returns `data`; any transport fault, non-200 status or GraphQL
    /// error is an error.
    pub async fn run(&self, query: &str, variables: Value) -> Result<Value> {
        let mut req = self
            .http
            .post(&self.url)
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.context("request")?;
        let status = resp.status();
        if !status.is_success() {
            bail!("HTTP {status}: {}", resp.text().await.unwrap_or_default());
        }
        let body: Value = resp.json().await.context("JSON body")?;
        if let Some(errors) = body.get("errors") {
            bail!("GraphQL errors: {errors}");
        }
        body.get("data")
            .filter(|d| !d.is_null())
            .cloned()
            .ok_or_else(|| anyhow!("no data in {body}"))
    }
}

/// A reqwest client for one load generator; `per_host` caps its idle connections.
pub fn http_client(per_host: usize) -> Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .pool_max_idle_per_host(per_host)
        .tcp_nodelay(true)
        .build()?)
}

/// Signs in and returns an access token.
pub async fn login(base: &str, email: &str, password: &str) -> Result<String> {
    let g = Gql::new(http_client(1)?, base, None);
    let data = g
        .run(
            "mutation($e: String!, $p: String!) { login(input: {email: $e, password: $p}) { accessToken } }",
            json!({ "e": email, "p": password }),
        )
        .await?;
    data["login"]["accessToken"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| anyhow!("no access token"))
}

/// `value` at a JSON pointer, or an error naming what is missing.
pub fn at<'a>(value: &'a Value, pointer: &str) -> Result<&'a Value> {
    value
        .pointer(pointer)
        .filter(|v| !v.is_null())
        .ok_or_else(|| anyhow!("answer lacks {pointer}"))
}

/// Length of the array at `pointer`.
pub fn len_at(value: &Value, pointer: &str) -> Result<usize> {
    at(value, pointer)?
        .as_array()
        .map(Vec::len)
        .ok_or_else(|| anyhow!("{pointer} is not a list"))
}

/// Sum of one counter family's samples in a Prometheus text exposition whose labels contain all
/// of `labels` (e.g. `cache="timecard_pay"`).
pub fn metric_sum(text: &str, name: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .filter(|l| labels.iter().all(|want| l.contains(want)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

pub async fn metrics(base: &str) -> Result<String> {
    Ok(reqwest::get(format!("{base}/metrics"))
        .await?
        .text()
        .await?)
}
