//! The open-data export path, in rows per second, without HTTP:
//!
//! - `export/store_pages`: the store's packed page reads and their parsing
//!   (`Store::export_reports_page` + `ExportPage::rows`), every page of the
//!   set in id order;
//! - `export/format_{csv,geojson,georeport_json,georeport_xml}`: pages
//!   already read, turned into records (`App::record_of`: taxonomy and
//!   district look-ups, the in-memory state) and written in one format;
//! - `export/stream_csv`: `ReportExport` end to end (read ahead of the next
//!   page while this one is formatted), as the HTTP route and the snapshot
//!   run it.
//!
//! The store is a fresh unseeded SQLite store in a temporary directory,
//! holding `REPORTS` synthetic reports imported as `civicmap import reports`
//! does (fixed seed; positions, dates and categories follow the DansMaRue
//! sample; districts attributed). The 1M-report figure over HTTP, with the
//! server's memory, is `benches/export_1m.sh`.
//!
//! `cargo bench --bench export` (about 2 min).
#![allow(clippy::unwrap_used)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use civicmap::boot;
use civicmap::config::PARIS_ENVELOPE;
use civicmap::districts::DEFAULT_WORKING_CLASS_THRESHOLD;
use civicmap::export::{csv, geojson, georeport};
use civicmap::generate::Generator;
use civicmap::open311::Format;
use civicmap::reference::{DANSMARUE_SAMPLE_CSV, parse_dansmarue};
use civicmap::service::{App, EXPORT_PAGE_ROWS, ReportExport, ReportFormat};
use civicmap::store::{ExportFilter, ExportPage};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

mod support;

/// Reports in the benched store.
const REPORTS: usize = 50_000;
/// Seed of the synthetic set.
const SEED: u64 = 42;

/// Every page of the store, in id order.
async fn read_pages(app: &App) -> Vec<ExportPage> {
    let mut pages = Vec::new();
    let mut after = 0;
    loop {
        let page = app
            .store()
            .export_reports_page(&ExportFilter::default(), after, EXPORT_PAGE_ROWS)
            .await
            .unwrap();
        if page.is_empty() {
            return pages;
        }
        after = page.last_id().unwrap();
        pages.push(page);
    }
}

#[derive(Clone, Copy)]
enum Writer {
    Csv,
    GeoJson,
    GeoReport(Format),
}

/// Writes every row of `pages`; returns the bytes written.
fn format_all(app: &App, pages: &[ExportPage], writer: Writer, out: &mut Vec<u8>) -> usize {
    let ctx = app.export_context();
    let mut scratch = String::new();
    let mut total = 0;
    let mut first = true;
    for page in pages {
        out.clear();
        for row in &page.rows().unwrap() {
            let r = app.record_of(row).unwrap();
            match writer {
                Writer::Csv => csv::write_report(out, &ctx, &r),
                Writer::GeoJson => geojson::write_report(out, &ctx, &r, first),
                Writer::GeoReport(f) => {
                    georeport::write_report(out, &ctx, &r, f, first, &mut scratch);
                }
            }
            first = false;
        }
        total += out.len();
    }
    total
}

fn bench(c: &mut Criterion) {
    let (rt, app, _dir) = support::unseeded_app();
    rt.block_on(async {
        let reference = boot::load_reference(app.store(), DEFAULT_WORKING_CLASS_THRESHOLD)
            .await
            .unwrap();
        let (sample, _) = parse_dansmarue(DANSMARUE_SAMPLE_CSV).unwrap();
        let records = Generator::new(&sample, SEED, PARIS_ENVELOPE)
            .unwrap()
            .take(REPORTS)
            .collect();
        boot::import_dansmarue(app.store(), &reference, records, false, |_| {})
            .await
            .unwrap();
    });
    let pages = rt.block_on(read_pages(&app));
    let rows: usize = pages.iter().map(ExportPage::len).sum();
    assert_eq!(rows, REPORTS);

    let mut g = c.benchmark_group("export");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(8))
        .warm_up_time(Duration::from_secs(2))
        .throughput(Throughput::Elements(REPORTS as u64));
    g.bench_function("store_pages", |b| {
        b.iter(|| {
            let pages = rt.block_on(read_pages(&app));
            let parsed: usize = pages.iter().map(|p| p.rows().unwrap().len()).sum();
            black_box(parsed)
        });
    });
    let mut out = Vec::with_capacity(8 << 20);
    for (name, writer) in [
        ("format_csv", Writer::Csv),
        ("format_geojson", Writer::GeoJson),
        ("format_georeport_json", Writer::GeoReport(Format::Json)),
        ("format_georeport_xml", Writer::GeoReport(Format::Xml)),
    ] {
        let bytes = format_all(&app, &pages, writer, &mut out);
        eprintln!("{name}: {bytes} bytes for {REPORTS} reports");
        g.bench_function(name, |b| {
            b.iter(|| black_box(format_all(&app, &pages, writer, &mut out)));
        });
    }
    g.bench_function("stream_csv", |b| {
        b.iter(|| {
            rt.block_on(async {
                let mut export =
                    ReportExport::new(Arc::clone(&app), ExportFilter::default(), ReportFormat::Csv);
                let mut bytes = 0;
                while let Some(chunk) = export.next_chunk().await.unwrap() {
                    bytes += chunk.len();
                }
                assert_eq!(export.rows(), REPORTS as u64);
                black_box(bytes)
            })
        });
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
