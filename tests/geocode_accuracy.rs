//! Accuracy of the offline geocoder on real Paris addresses.
//!
//! * DansMaRue: every report of the 2023–2024 sample is geocoded from its
//!   `adresse`, restricted to its `code_postal`, and compared with the
//!   report's own coordinates.
//! * Participatory budget: winning-project addresses have no coordinates, so
//!   only the match rate is measured.
//!
//! The geocoder is built once per test; the loops only call `forward`, so the
//! file stays well within CI time in debug builds.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use civicmap::geocode::{GeocodeMatch, Geocoder, MatchPrecision};
use civicmap::model::LonLat;

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("data")
        .join(name)
}

fn geocoder() -> Geocoder {
    let t = Instant::now();
    let g = Geocoder::from_files(
        &data("paris_ban_adresses_75.csv.gz"),
        &data("paris_ban_voies_points_representatifs.csv"),
    )
    .expect("the shipped BAN files load");
    eprintln!(
        "geocoder: {} addresses, {} streets, loaded in {:.2?}",
        g.len(),
        g.street_count(),
        t.elapsed()
    );
    g
}

/// INSEE code of a Paris postcode: `75002` → `75102`, `75116` → `75116`.
fn citycode_of_postcode(postcode: &str) -> Option<String> {
    let n: u32 = postcode.strip_prefix("750")?.parse().ok()?;
    if (1..=20).contains(&n) {
        Some(format!("751{n:02}"))
    } else if postcode == "75116" {
        Some("75116".to_owned())
    } else {
        None
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

/// Share of all sample addresses placed within 50 m of their report. The
/// target is 95 %; the measured figure is 95.03 % (37,552 of 39,515), close
/// to the ceiling the sample sets for a geocoder that reads the text alone.
/// Of the 1,963 misses, 919 match a BAN address exactly (name, number,
/// arrondissement) yet their report lies more than 50 m from that point (243
/// of them more than 50 m from every address of that street), and moving to
/// any other point of the street (its street-level point, the other
/// entrances of the same number, the opposite side, the street's axis) loses
/// more rows than it wins; 618 give a number the street lacks, on the other side of a boundary
/// or with a suffix the BAN does not have, and the report is not where the
/// other side, interpolation, the nearest number or the street the way opens
/// onto puts it (`4307 Boulevard Ney`); 297 give no number or a way without
/// numbers (single-point bridges, ports, squares whose centre is far from
/// the report, a park before the street, a long street named twice); 129
/// name ways that are not in the BAN (Boulevard Périphérique, promenades,
/// footbridges, small squares). The floor below guards against regressions.
const MIN_SHARE_OF_ALL: f64 = 0.95;
/// Share, among the addresses that matched, placed within 50 m.
const MIN_SHARE_OF_MATCHED: f64 = 0.953;

/// Upper bounds (metres) of the distance buckets of the miss breakdown.
const MISS_BUCKETS_M: [f64; 5] = [75.0, 100.0, 200.0, 500.0, f64::INFINITY];

/// How a missed address was matched.
fn match_kind(m: Option<&GeocodeMatch>) -> &'static str {
    match m {
        None => "not found",
        Some(m) if m.precision == MatchPrecision::Street => "street",
        Some(m) if m.score >= 0.999 => "house number, exact",
        Some(_) => "house number, approximate",
    }
}

/// The shape of an address as written: `"12 bis Rue X, 75011 PARIS"` is
/// `"number + suffix, Rue"`, `"Rue X Rue X, 75011 PARIS"` `"name twice"`.
fn address_pattern(address: &str) -> String {
    let text = address.split(',').next().unwrap_or_default();
    let words: Vec<&str> = text.split_whitespace().collect();
    let half = words.len() / 2;
    if words.len() >= 2 && words.len().is_multiple_of(2) && words[..half] == words[half..] {
        return "name twice".to_owned();
    }
    let Some(first) = words.first() else {
        return "empty".to_owned();
    };
    let digits = first.bytes().take_while(u8::is_ascii_digit).count();
    let kind = match (digits, first.len() - digits) {
        (0, _) => "no number",
        (5.., _) => "no number",
        (4, _) => "number of 4 digits",
        (_, 0)
            if words.get(1).is_some_and(|w| {
                matches!(w.to_lowercase().as_str(), "bis" | "ter" | "quater") || w.len() == 1
            }) =>
        {
            "number + suffix"
        }
        (_, 0) => "number",
        (_, _) if first[digits..].starts_with(['-', '/']) => "range",
        _ => "number + suffix",
    };
    let type_word = words
        .iter()
        .skip(usize::from(kind != "no number"))
        .find(|w| w.chars().next().is_some_and(char::is_alphabetic))
        .map_or(String::new(), |w| w.to_lowercase());
    format!("{kind}, {type_word}")
}

#[test]
fn dansmarue_addresses_land_within_50_m_of_their_reports() {
    let g = geocoder();
    let mut rdr =
        csv::Reader::from_path(data("paris_dansmarue_echantillon_api_2023_2024.csv")).unwrap();
    let headers = rdr.headers().unwrap().clone();
    let col = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let (c_addr, c_post, c_lat, c_lon) = (
        col("adresse"),
        col("code_postal"),
        col("latitude"),
        col("longitude"),
    );

    let t = Instant::now();
    let (mut total, mut within_50, mut unmatched, mut house_numbers, mut exact_but_far) =
        (0usize, 0usize, 0usize, 0usize, 0usize);
    let mut distances = Vec::with_capacity(40_000);
    let mut misses: Vec<String> = Vec::new();
    let mut by_kind: BTreeMap<&str, [usize; MISS_BUCKETS_M.len() + 1]> = BTreeMap::new();
    let mut by_pattern: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for rec in rdr.records() {
        let rec = rec.unwrap();
        let truth = LonLat::new(rec[c_lon].parse().unwrap(), rec[c_lat].parse().unwrap()).unwrap();
        let address = &rec[c_addr];
        let citycode = citycode_of_postcode(&rec[c_post]);
        let codes: Vec<&str> = citycode.iter().map(String::as_str).collect();
        total += 1;
        let found = g.forward(address, &codes, 1).into_iter().next();
        let d = found.as_ref().map(|m| m.location.distance_m(truth));
        let pattern = by_pattern.entry(address_pattern(address)).or_default();
        pattern.0 += 1;
        if d.is_some_and(|d| d <= 50.0) {
            within_50 += 1;
        } else {
            pattern.1 += 1;
            let bucket = d.map_or(MISS_BUCKETS_M.len(), |d| {
                MISS_BUCKETS_M.iter().position(|&b| d <= b).unwrap_or(0)
            });
            by_kind.entry(match_kind(found.as_ref())).or_default()[bucket] += 1;
        }
        let Some(m) = found else {
            unmatched += 1;
            if misses.len() < 10 {
                misses.push(format!("no match: {address:?}"));
            }
            continue;
        };
        let d = m.location.distance_m(truth);
        distances.push(d);
        let exact = m.precision == MatchPrecision::HouseNumber && m.score >= 0.999;
        house_numbers += usize::from(m.precision == MatchPrecision::HouseNumber);
        if d > 50.0 {
            exact_but_far += usize::from(exact);
            if misses.len() < 10 {
                misses.push(format!("{d:.0} m: {address:?} -> {:?}", m.label));
            }
        }
    }
    let elapsed = t.elapsed();
    distances.sort_by(f64::total_cmp);
    let matched = total - unmatched;
    let share = within_50 as f64 / total as f64;
    let share_matched = within_50 as f64 / matched as f64;
    eprintln!(
        "DansMaRue: {total} addresses, {within_50} within 50 m = {:.2} % of all, {:.2} % of the {matched} matched \
         ({:.2} % matched, {:.2} % at house-number precision); distance median {:.1} m, p90 {:.1} m, p95 {:.1} m; \
         {exact_but_far} exact BAN matches lie > 50 m from their report; {:.1} µs per query",
        100.0 * share,
        100.0 * share_matched,
        100.0 * matched as f64 / total as f64,
        100.0 * house_numbers as f64 / total as f64,
        percentile(&distances, 0.5),
        percentile(&distances, 0.9),
        percentile(&distances, 0.95),
        elapsed.as_secs_f64() * 1e6 / total as f64,
    );
    eprintln!(
        "  misses by match, distance (<= 75 m, <= 100 m, <= 200 m, <= 500 m, farther, not found):"
    );
    for (kind, buckets) in &by_kind {
        eprintln!(
            "    {kind:<26} {:>5}  {buckets:?}",
            buckets.iter().sum::<usize>()
        );
    }
    let mut patterns: Vec<_> = by_pattern.iter().filter(|&(_, &(_, m))| m > 0).collect();
    patterns.sort_by_key(|&(_, &(_, m))| std::cmp::Reverse(m));
    eprintln!("  misses by address pattern (misses / addresses):");
    for (pattern, (n, m)) in patterns.iter().take(12) {
        eprintln!("    {pattern:<32} {m:>5} / {n:<6}");
    }
    for m in &misses {
        eprintln!("  e.g. {m}");
    }
    assert_eq!(total, 39_515);
    assert!(
        share >= MIN_SHARE_OF_ALL,
        "only {:.2} % of all within 50 m",
        100.0 * share
    );
    assert!(
        share_matched >= MIN_SHARE_OF_MATCHED,
        "only {:.2} % of the matched within 50 m",
        100.0 * share_matched
    );
}

/// (address, arrondissement code as INSEE or postcode) of both budget files.
fn budget_addresses() -> Vec<(String, Option<String>)> {
    let mut out = Vec::new();
    let mut rdr = csv::ReaderBuilder::new()
        .delimiter(b';')
        .from_path(data("paris_budget_participatif_projets_gagnants.csv"))
        .unwrap();
    let headers = rdr.headers().unwrap().clone();
    let col = |name: &str| {
        headers
            .iter()
            .position(|h| h.trim_start_matches('\u{feff}') == name)
            .unwrap()
    };
    let (c_addr, c_arr) = (
        col("Adresse du projet lauréat"),
        col("Arrondissement du projet lauréat"),
    );
    for rec in rdr.records() {
        let rec = rec.unwrap();
        let arr = rec[c_arr].trim();
        out.push((
            rec[c_addr].trim().to_owned(),
            (!arr.is_empty()).then(|| arr.to_owned()),
        ));
    }
    let mut rdr = csv::Reader::from_path(data(
        "paris_budget_participatif_projets_gagnants_2023_2024_complement.csv",
    ))
    .unwrap();
    let headers = rdr.headers().unwrap().clone();
    let col = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let (c_addr, c_arr) = (
        col("adresse_projet_gagnant"),
        col("arrondissement_projet_gagnant"),
    );
    for rec in rdr.records() {
        let rec = rec.unwrap();
        let arr = rec[c_arr]
            .trim()
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=20).contains(n))
            .map(|n| format!("751{n:02}"));
        out.push((rec[c_addr].trim().to_owned(), arr));
    }
    out
}

#[test]
fn most_participatory_budget_addresses_find_a_match() {
    let g = geocoder();
    let all = budget_addresses();
    let with_text: Vec<_> = all.iter().filter(|(a, _)| !a.is_empty()).collect();
    let (mut matched, mut confident) = (0usize, 0usize);
    let mut misses = Vec::new();
    for (address, arr) in &with_text {
        let codes: Vec<&str> = arr.iter().map(String::as_str).collect();
        match g.forward(address, &codes, 1).first() {
            Some(m) => {
                matched += 1;
                confident += usize::from(m.score >= 0.6);
            }
            None if misses.len() < 15 => misses.push(address.as_str()),
            None => {}
        }
    }
    let rate = matched as f64 / with_text.len() as f64;
    eprintln!(
        "participatory budget: {} projects, {} with an address; matched {matched} = {:.1} % ({confident} = {:.1} % with score >= 0.6)",
        all.len(),
        with_text.len(),
        100.0 * rate,
        100.0 * confident as f64 / with_text.len() as f64,
    );
    eprintln!("  unmatched, e.g.: {misses:?}");
    assert!(rate >= 0.8, "only {:.1} % matched", 100.0 * rate);
}
