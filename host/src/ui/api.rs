//! The JSON the web UI's pages are drawn from (read-only):
//!
//! - `GET /api/overview?points=N`: `sluice status`'s report, the last N
//!   batches (the charts' points) and the pipeline graph with each node's
//!   records per second;
//! - `GET /api/batches?page=K&size=N`: the batches table, newest first;
//! - `GET /api/batches/{batch_time}`: one batch, with each stream's calls
//!   per partition and what its plugins printed;
//! - `GET /api/deploys`: each stream's versions and their history.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use axum::routing::get;
use serde::{Deserialize, Serialize};

use super::Served;
use crate::control::protocol::StatusReport;
use crate::deploy::info::{EventInfo, StreamStatus, VersionInfo};
use crate::history::{BatchPage, BatchRecord};
use crate::plan::NodeRef;
use crate::plugin::logs::{LogEntry, LogQuery};

/// Points the overview's charts show unless asked otherwise.
const DEFAULT_POINTS: usize = 300;

/// Batches a page of the table holds unless asked otherwise.
const DEFAULT_PAGE_SIZE: usize = 25;

/// Batches the graph's records per second are averaged over.
const RATE_BATCHES: usize = 10;

pub(super) fn routes() -> Router<Arc<Served>> {
    Router::new()
        .route("/api/overview", get(overview))
        .route("/api/batches", get(batches))
        .route("/api/batches/{batch_time}", get(batch))
        .route("/api/deploys", get(deploys))
}

#[derive(Deserialize)]
struct OverviewQuery {
    points: Option<usize>,
}

/// A node of the pipeline graph.
#[derive(Serialize)]
struct Node {
    /// `source`, `stream`, `table` or `sink`.
    role: &'static str,
    name: String,
    /// The source's or sink's kind, the stream's operator.
    kind: String,
    /// The nodes it reads, as `role:name`.
    inputs: Vec<String>,
    /// Records it gave per second over the last batches (a sink: took).
    records_per_second: f64,
}

#[derive(Serialize)]
struct Overview {
    status: StatusReport,
    batches: Vec<BatchRecord>,
    graph: Vec<Node>,
}

async fn overview(
    State(served): State<Arc<Served>>,
    Query(query): Query<OverviewQuery>,
) -> Json<Overview> {
    let points = query
        .points
        .unwrap_or(DEFAULT_POINTS)
        .min(crate::history::RETAINED_BATCHES);
    Json(Overview {
        status: crate::control::handle::status_report(&served.registry, &served.status),
        batches: served.observers.history.recent(points),
        graph: graph(&served),
    })
}

/// Sources, streams and sinks, with their rates over the last batches.
fn graph(served: &Served) -> Vec<Node> {
    let plan = served.registry.plan();
    let recent = served.observers.history.last(RATE_BATCHES);
    let seconds = recent.len() as f64 * plan.batch_interval.as_secs_f64();
    let rate = |records: u64| {
        if seconds > 0.0 {
            records as f64 / seconds
        } else {
            0.0
        }
    };
    let stream_out = |index: usize| -> u64 {
        recent
            .iter()
            .filter_map(|batch| batch.streams.get(index))
            .map(|stream| stream.records_out)
            .sum()
    };
    let source_out = |name: &str| -> u64 {
        recent
            .iter()
            .filter_map(|batch| batch.sources.iter().find(|(source, _)| source == name))
            .map(|(_, records)| records)
            .sum()
    };
    let node_name = |node: &NodeRef| match *node {
        NodeRef::Source(i) => format!("source:{}", plan.sources[i].name),
        NodeRef::Stream(i) => format!("stream:{}", plan.streams[i].name),
        NodeRef::Table(i) => format!("table:{}", plan.tables[i].spec().name),
    };
    let node_rate = |node: &NodeRef| match *node {
        NodeRef::Source(i) => rate(source_out(&plan.sources[i].name)),
        NodeRef::Stream(i) => rate(stream_out(i)),
        NodeRef::Table(_) => 0.0,
    };
    let mut nodes = Vec::new();
    for source in &plan.sources {
        nodes.push(Node {
            role: "source",
            name: source.name.clone(),
            kind: source.kind.name().to_owned(),
            inputs: Vec::new(),
            records_per_second: rate(source_out(&source.name)),
        });
    }
    for table in &plan.tables {
        nodes.push(Node {
            role: "table",
            name: table.spec().name.clone(),
            kind: "table".to_owned(),
            inputs: Vec::new(),
            records_per_second: 0.0,
        });
    }
    for (index, stream) in plan.streams.iter().enumerate() {
        nodes.push(Node {
            role: "stream",
            name: stream.name.clone(),
            kind: serde_json::to_value(stream.op)
                .ok()
                .and_then(|op| op.as_str().map(str::to_owned))
                .unwrap_or_default(),
            inputs: stream.inputs.iter().map(node_name).collect(),
            records_per_second: rate(stream_out(index)),
        });
    }
    for sink in &plan.sinks {
        nodes.push(Node {
            role: "sink",
            name: sink.name.clone(),
            kind: sink.kind.name().to_owned(),
            inputs: vec![node_name(&sink.from)],
            records_per_second: node_rate(&sink.from),
        });
    }
    nodes
}

#[derive(Deserialize)]
struct PageQuery {
    page: Option<usize>,
    size: Option<usize>,
}

async fn batches(
    State(served): State<Arc<Served>>,
    Query(query): Query<PageQuery>,
) -> Json<BatchPage> {
    Json(served.observers.history.page(
        query.page.unwrap_or(0),
        query.size.unwrap_or(DEFAULT_PAGE_SIZE),
    ))
}

#[derive(Serialize)]
struct BatchDetail {
    batch: BatchRecord,
    /// What the plugins printed in this batch (kept for the last
    /// [`crate::plugin::logs::KEPT_BATCHES`] batches).
    logs: Vec<LogEntry>,
}

async fn batch(State(served): State<Arc<Served>>, Path(batch_time): Path<i64>) -> Response {
    let Some(batch) = served.observers.history.batch(batch_time) else {
        return (
            StatusCode::NOT_FOUND,
            format!(
                "no batch at {batch_time} is kept (the last {} are)\n",
                crate::history::RETAINED_BATCHES
            ),
        )
            .into_response();
    };
    let logs = served.registry.engine().logs().query(&LogQuery {
        stream: None,
        batch_time: Some(batch_time),
        after: None,
    });
    Json(BatchDetail { batch, logs }).into_response()
}

#[derive(Serialize)]
struct StreamDeploys {
    status: StreamStatus,
    versions: Vec<VersionInfo>,
    events: Vec<EventInfo>,
}

async fn deploys(State(served): State<Arc<Served>>) -> Json<Vec<StreamDeploys>> {
    let registry = &served.registry;
    Json(
        registry
            .status()
            .into_iter()
            .map(|status| {
                let (versions, events) = registry.history(&status.stream).unwrap_or_default();
                StreamDeploys {
                    status,
                    versions,
                    events,
                }
            })
            .collect(),
    )
}
