//! The shipped Paris reference data as the service loads it: budget projects
//! geocoded at import, and how the derived working-class layer agrees with
//! the city's own "Projet en Quartier populaire" flag (figures quoted in
//! README.md; run with `--nocapture` to see them).
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use civicmap::boot::{self, Reference};
use civicmap::districts::{DEFAULT_WORKING_CLASS_THRESHOLD, DistrictRegistry, FlaggedPoint};
use civicmap::model::{Layer, ProjectScale, Taxonomy};
use civicmap::reference;

fn reference() -> Reference {
    Reference {
        taxonomy: Arc::new(Taxonomy::from_csv(reference::TAXONOMY_CSV).unwrap()),
        districts: Arc::new(
            DistrictRegistry::paris_defaults(&boot::paris_files(), DEFAULT_WORKING_CLASS_THRESHOLD)
                .unwrap(),
        ),
        geocoder: Arc::new(reference::geocoder().unwrap()),
    }
}

#[test]
fn budget_projects_are_geocoded_inside_the_arrondissement_the_city_gave() {
    let r = reference();
    let (raw, rejected) = boot::reference_projects().unwrap();
    assert!(rejected.is_empty(), "{rejected:?}");
    let projects: Vec<_> = raw
        .into_iter()
        .map(|p| boot::place_project(&r, p))
        .collect();
    let local: Vec<_> = projects
        .iter()
        .filter(|p| p.scale == ProjectScale::Arrondissement)
        .collect();
    let located = local.iter().filter(|p| p.location.is_some()).count();
    let rate = located as f64 / local.len() as f64;
    // Where the city gave an arrondissement, the geocoded point must lie in it
    // (or, for 75123, in one of the four arrondissements of Paris Centre).
    let mut inside = 0;
    let mut checked = 0;
    for p in &local {
        let (Some(_), Some(code)) = (p.location, p.arrondissement_code.as_deref()) else {
            continue;
        };
        let Some(allowed) = civicmap::districts::arrondissement_codes_for(code) else {
            continue;
        };
        checked += 1;
        let got = p
            .districts
            .get(Layer::Arrondissement)
            .and_then(|d| r.districts.get(d))
            .map(|d| d.code.clone());
        if got.is_some_and(|c| allowed.contains(&c.as_str())) {
            inside += 1;
        }
    }
    let inside_rate = f64::from(inside) / f64::from(checked);
    println!(
        "budget projects: {} arrondissement-level, {located} geocoded ({:.1} %); {:.1} % of those in the arrondissement the city gave; {} city-wide",
        local.len(),
        100.0 * rate,
        100.0 * inside_rate,
        projects.len() - local.len()
    );
    assert!(rate >= 0.85, "match rate {rate}");
    assert!(inside_rate >= 0.95, "inside rate {inside_rate}");
}

#[test]
fn the_derived_working_class_layer_is_reported_with_its_size() {
    use geo::GeodesicArea;
    use geo::orient::{Direction, Orient};
    let r = reference();
    let day = time::Date::from_calendar_date(2024, time::Month::June, 1).unwrap();
    let size = |layer: Layer| {
        let mut districts = 0;
        let mut pop15 = 0_u64;
        let mut area = 0.0;
        let mut members = 0;
        for id in r.districts.districts(layer, Some(day)) {
            let d = r.districts.get(id).unwrap();
            districts += 1;
            pop15 += d.attributes.census_15_plus.map_or(0, |c| c.total);
            area += d
                .geometry
                .orient(Direction::Default)
                .geodesic_area_unsigned();
            members += d.attributes.derived_from.len();
        }
        (districts, members, pop15, area)
    };
    let (n, iris, pop, area) = size(Layer::WorkingClass);
    let (_, _, city_pop, _) = size(Layer::Iris);
    let (_, _, _, city_area) = size(Layer::Arrondissement);
    println!(
        "derived working-class layer: {n} districts of {iris} IRIS, {:.1} % of residents aged 15+, {:.1} % of the area",
        100.0 * pop as f64 / city_pop as f64,
        100.0 * area / city_area
    );
    assert!(n > 0 && iris >= n);
    assert!(pop > 0 && pop < city_pop && area > 0.0 && area < city_area);
}

#[test]
fn the_derived_working_class_layer_agrees_with_the_citys_project_flag_better_than_chance() {
    let r = reference();
    let (raw, _) = boot::reference_projects().unwrap();
    let points: Vec<FlaggedPoint> = raw
        .into_iter()
        .map(|p| boot::place_project(&r, p))
        .filter(|p| p.scale == ProjectScale::Arrondissement)
        .filter_map(|p| {
            p.location.map(|at| FlaggedPoint {
                at,
                date: time::Date::from_calendar_date(p.edition, time::Month::December, 31).unwrap(),
                flagged: p.working_class_flag,
            })
        })
        .collect();
    let a = r.districts.working_class_agreement(points);
    let kappa = a.kappa().unwrap();
    println!(
        "derived working-class layer vs the city's flag over {} located projects: both {}, flag only {}, layer only {}, neither {}; agreement {:.1} %, Cohen's kappa {kappa:.2}",
        a.total(),
        a.both,
        a.flag_only,
        a.layer_only,
        a.neither,
        100.0 * a.agreement_rate().unwrap()
    );
    assert!(
        kappa > 0.2,
        "kappa {kappa}: the derived layer does not track the city's flag"
    );
}
