//! Benchmarks of business-time arithmetic (see BENCHMARKS.md for figures and the machine).
//!
//! - `kernel/*`: the `business_seconds` function on 10M-row arrays with a literal calendar,
//!   called the way DataFusion calls it (arrays in, array out), on one thread.
//! - `index/*`: the index alone (two look-ups and a subtraction per row).
//! - `e2e/*`: `SELECT sum(business_seconds(a, b))` against `SELECT sum(b - a)` over the same
//!   10M-row Parquet file, through a full DataFusion session.
//!
//! Run with `cargo bench --bench business_time`; `KPI_BENCH_ROWS` changes the row count.

use std::path::Path;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use datafusion::arrow::array::{ArrayRef, RecordBatch, TimestampMicrosecondArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::common::config::ConfigOptions;
use datafusion::common::ScalarValue;
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::prelude::{ParquetReadOptions, SessionContext};
use kpi::workspace::{Origin, Workspace};

/// The allocator of the `kpi` binary, so that the figures are those users get.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn rows() -> usize {
    std::env::var("KPI_BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000_000)
}

/// Deterministic ticket-like spans: starts over 2024–2026, durations up to ~20 days,
/// skewed short (a 64-bit LCG, so no dependency on a random-number crate).
fn spans(n: usize) -> (Vec<i64>, Vec<i64>) {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        state >> 11
    };
    let base = 1_704_067_200_000_000i64; // 2024-01-01T00:00:00Z
    let three_years = 3 * 365 * 86_400_000_000i64;
    let (mut a, mut b) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for _ in 0..n {
        let start = base + (next() as i64).rem_euclid(three_years);
        let r = (next() % 1_000_000) as i64;
        let len = r * r / 1_000_000 * 1_728_000; // 0 .. 20 days, skewed short
        a.push(start);
        b.push(start + len);
    }
    (a, b)
}

fn workspace() -> Workspace {
    Workspace::open(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("sample_data"),
        Origin::Explicit,
    )
    .expect("the bundled sample workspace loads")
}

fn ts_array(values: Vec<i64>) -> ArrayRef {
    Arc::new(TimestampMicrosecondArray::from(values).with_timezone("UTC"))
}

fn kernel(c: &mut Criterion) {
    let n = rows();
    let ws = workspace();
    let udf = kpi::functions::all(&ws.calendars)
        .into_iter()
        .find(|f| f.name() == "business_seconds")
        .expect("business_seconds is registered");
    let (a, b) = spans(n);
    let index = ws
        .calendars
        .index("br-sp", Some((a[0], *b.iter().max().unwrap_or(&0))))
        .unwrap();
    let (a_arr, b_arr) = (ts_array(a.clone()), ts_array(b.clone()));
    let ts_type = DataType::Timestamp(TimeUnit::Microsecond, Some(Arc::from("UTC")));
    let args = || ScalarFunctionArgs {
        args: vec![
            ColumnarValue::Array(Arc::clone(&a_arr)),
            ColumnarValue::Array(Arc::clone(&b_arr)),
            ColumnarValue::Scalar(ScalarValue::Utf8(Some("br-sp".into()))),
        ],
        arg_fields: vec![
            Arc::new(Field::new("a", ts_type.clone(), true)),
            Arc::new(Field::new("b", ts_type.clone(), true)),
            Arc::new(Field::new("c", DataType::Utf8, true)),
        ],
        number_rows: n,
        return_field: Arc::new(Field::new("out", DataType::Int64, true)),
        config_options: Arc::new(ConfigOptions::default()),
    };

    let mut group = c.benchmark_group("kernel");
    group.throughput(Throughput::Elements(n as u64));
    group.sample_size(20);
    group.bench_function(
        BenchmarkId::new("business_seconds_scalar_calendar", n),
        |bench| bench.iter(|| udf.invoke_with_args(args()).expect("business_seconds runs")),
    );
    group.finish();

    let mut group = c.benchmark_group("index");
    group.throughput(Throughput::Elements(n as u64));
    group.sample_size(20);
    group.bench_function(BenchmarkId::new("fast_micros", n), |bench| {
        bench.iter(|| {
            a.iter()
                .zip(&b)
                .map(|(&x, &y)| index.fast_micros(x, y).unwrap_or(0))
                .fold(0i64, |acc, v| acc.wrapping_add(v))
        })
    });
    group.finish();
}

fn write_parquet(path: &Path, n: usize) {
    let (a, b) = spans(n);
    let ts_type = DataType::Timestamp(TimeUnit::Microsecond, Some(Arc::from("UTC")));
    let schema = Arc::new(Schema::new(vec![
        Field::new("a", ts_type.clone(), false),
        Field::new("b", ts_type, false),
    ]));
    let file = std::fs::File::create(path).expect("create the benchmark Parquet file");
    let mut writer = ArrowWriter::try_new(file, Arc::clone(&schema), None).expect("writer");
    for start in (0..n).step_by(1 << 20) {
        let end = (start + (1 << 20)).min(n);
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                ts_array(a[start..end].to_vec()),
                ts_array(b[start..end].to_vec()),
            ],
        )
        .expect("batch");
        writer.write(&batch).expect("write");
    }
    writer.close().expect("close");
}

fn end_to_end(c: &mut Criterion) {
    let n = rows();
    let dir = tempfile::tempdir().expect("temporary folder");
    let path = dir.path().join("spans.parquet");
    write_parquet(&path, n);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let ws = workspace();
    let ctx: SessionContext = runtime.block_on(async {
        let ctx = kpi::session::Session::builder(&ws)
            .build()
            .expect("session")
            .context()
            .clone();
        ctx.register_parquet(
            "t",
            path.to_string_lossy().as_ref(),
            ParquetReadOptions::default(),
        )
        .await
        .expect("register");
        ctx
    });
    let mut group = c.benchmark_group("e2e");
    group.throughput(Throughput::Elements(n as u64));
    group.sample_size(10);
    for (name, sql) in [
        ("sum_b_minus_a", "SELECT sum(b - a) FROM t"),
        (
            "sum_business_seconds",
            "SELECT sum(business_seconds(a, b, 'br-sp')) FROM t",
        ),
    ] {
        group.bench_function(BenchmarkId::new(name, n), |bench| {
            bench.iter(|| {
                runtime.block_on(async {
                    ctx.sql(sql)
                        .await
                        .expect("plan")
                        .collect()
                        .await
                        .expect("run")
                })
            })
        });
    }
    group.finish();
}

criterion_group!(benches, kernel, end_to_end);
criterion_main!(benches);
