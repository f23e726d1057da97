//! agentcap's decisions in OpenTelemetry: every verification is an `execute_tool {tool}` span
//! (GenAI semantic conventions, with `agentcap.decision` and `agentcap.reason`), and every
//! decision adds one to the counter `agentcap.decisions` (attributes `agentcap.decision`,
//! `agentcap.reason`, `gen_ai.tool.name`), exported through `tracing-opentelemetry`.
//!
//! The exporters here are the SDK's in-memory ones, so the example can check what was exported;
//! in production, put an OTLP exporter in their place. The library itself depends only on
//! `tracing`.
//!
//! Run: `cargo run --features otel-demo --example otel`
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use agentcap::*;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry::KeyValue;
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
use serde_json::json;
use time::{Duration, OffsetDateTime};
use tracing_opentelemetry::{MetricsLayer, OpenTelemetryLayer};
use tracing_subscriber::layer::SubscriberExt;

fn attribute<'a>(attributes: impl IntoIterator<Item = &'a KeyValue>, key: &str) -> String {
    attributes
        .into_iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| kv.value.to_string())
        .unwrap_or_default()
}

fn main() -> Result<(), Error> {
    // Spans and metrics to in-memory exporters.
    let spans = InMemorySpanExporter::default();
    let tracer_provider = SdkTracerProvider::builder()
        .with_simple_exporter(spans.clone())
        .build();
    let metrics = InMemoryMetricExporter::default();
    let meter_provider = SdkMeterProvider::builder()
        .with_reader(PeriodicReader::builder(metrics.clone()).build())
        .build();
    let subscriber = tracing_subscriber::registry()
        .with(OpenTelemetryLayer::new(
            tracer_provider.tracer("agentcap-example"),
        ))
        .with(MetricsLayer::new(meter_provider.clone()));
    tracing::subscriber::set_global_default(subscriber).expect("one subscriber");

    // An executor guarding `read_file`, and an agent holding a token for files under /data.
    let now = OffsetDateTime::now_utc();
    let authority = Authority::new(AuthorityId::new("ops")?, AuthorityKey::generate(1));
    let executor = ExecutorId::new("files-1")?;
    let verifier = Verifier::builder(
        executor.clone(),
        authority.key().public().into(),
        ["read_file"],
    )
    .build()?;
    let agent = AgentKey::generate();
    let grant = Grant::builder(AgentId::random(), agent.public(), now + Duration::hours(1))
        .tool(
            "read_file",
            ToolGrant::new().arg("path", Constraint::sub_path("/data")?),
        )
        .build()?;
    let token = authority.issue(&grant)?;
    let text = token.to_base64()?;
    for path in ["/data/a.csv", "/data/b.csv", "/etc/passwd"] {
        let call = ToolCall::new("read_file", json!({ "path": path }))?;
        let proof = CallProof::sign(&agent, &token, &executor, &call, OffsetDateTime::now_utc())?;
        let decision = verifier.guard(&text, &call, &proof, |_| "contents");
        println!(
            "read_file {path}: {}",
            if decision.is_ok() {
                "allowed"
            } else {
                "denied"
            }
        );
    }

    // What the exporters received.
    tracer_provider.force_flush().expect("spans flushed");
    meter_provider.force_flush().expect("metrics flushed");
    let finished = spans.get_finished_spans().expect("spans");
    for s in &finished {
        println!(
            "span `{}`: gen_ai.operation.name={} gen_ai.tool.name={} agentcap.decision={} agentcap.reason={}",
            s.name,
            attribute(&s.attributes, "gen_ai.operation.name"),
            attribute(&s.attributes, "gen_ai.tool.name"),
            attribute(&s.attributes, "agentcap.decision"),
            attribute(&s.attributes, "agentcap.reason"),
        );
    }
    let decisions: Vec<String> = finished
        .iter()
        .filter(|s| s.name == "execute_tool read_file")
        .map(|s| attribute(&s.attributes, "agentcap.decision"))
        .collect();
    assert_eq!(
        decisions,
        ["allow", "allow", "deny"],
        "one span per decision"
    );

    let mut counted = Vec::new();
    for rm in metrics.get_finished_metrics().expect("metrics") {
        for sm in rm.scope_metrics() {
            for m in sm.metrics().filter(|m| m.name() == "agentcap.decisions") {
                if let AggregatedMetrics::U64(MetricData::Sum(sum)) = m.data() {
                    for p in sum.data_points() {
                        let decision = attribute(p.attributes(), "agentcap.decision");
                        let reason = attribute(p.attributes(), "agentcap.reason");
                        println!(
                            "counter agentcap.decisions{{agentcap.decision={decision}, agentcap.reason={reason}}} = {}",
                            p.value()
                        );
                        counted.push((decision, reason, p.value()));
                    }
                }
            }
        }
    }
    counted.sort();
    assert_eq!(
        counted,
        [
            ("allow".to_owned(), String::new(), 2),
            ("deny".to_owned(), "argument_rejected".to_owned(), 1)
        ],
        "the decision counter"
    );
    println!("spans and counters exported as expected");
    Ok(())
}
