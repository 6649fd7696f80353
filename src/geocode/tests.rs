//! Unit tests on a small extract of the Paris BAN (real rows).

use std::sync::OnceLock;

use proptest::prelude::*;

use super::*;

const ADDRESSES: &str = "numero,rep,nom_voie,nom_afnor,code_postal,code_insee,lon,lat\n\
24,,Rue de la Lune,RUE DE LA LUNE,75002,75102,2.349344,48.869867\n\
26,,Rue de la Lune,RUE DE LA LUNE,75002,75102,2.349206,48.869892\n\
28,,Rue de la Lune,RUE DE LA LUNE,75002,75102,2.348944,48.869958\n\
30,,Rue de la Lune,RUE DE LA LUNE,75002,75102,2.348804,48.869976\n\
1,,Place de l' Hotel de Ville - Esplanade de la Libération,PL HOT VILLE ESPL LA LIBERATION,75004,75104,2.350629,48.856291\n\
3,,Place de l' Hotel de Ville - Esplanade de la Libération,PL HOT VILLE ESPL LA LIBERATION,75004,75104,2.350734,48.856483\n\
58,,Rue du Vertbois,RUE DU VERTBOIS,75003,75103,2.356557,48.867392\n\
60,,Rue du Vertbois,RUE DU VERTBOIS,75003,75103,2.356411,48.867439\n\
26,,Rue Sorbier,RUE SORBIER,75020,75120,2.391342,48.866696\n\
28,,Rue Sorbier,RUE SORBIER,75020,75120,2.391627,48.866486\n\
30,,Rue Sorbier,RUE SORBIER,75020,75120,2.391916,48.866292\n\
28,b,Rue Sorbier,RUE SORBIER,75020,75120,2.391744,48.866404\n\
28,t,Rue Sorbier,RUE SORBIER,75020,75120,2.391825,48.86635\n\
30,b,Rue Sorbier,RUE SORBIER,75020,75120,2.392004,48.866235\n\
1,,Avenue Foch,AVENUE FOCH,75016,75116,2.293193,48.873439\n\
2,,Avenue Foch,AVENUE FOCH,75016,75116,2.293046,48.873827\n\
3,,Avenue Foch,AVENUE FOCH,75016,75116,2.29209,48.87323\n\
1,b,Avenue Foch,AVENUE FOCH,75016,75116,2.292256,48.873321\n\
300,,Rue de Vaugirard,RUE DE VAUGIRARD,75015,75115,2.297895,48.838126\n\
302,,Rue de Vaugirard,RUE DE VAUGIRARD,75015,75115,2.297777,48.838064\n\
1,,Rue du Faubourg Saint-Antoine,RUE DU FAUBOURG SAINT ANTOINE,75011,75111,2.37053,48.853277\n\
3,,Rue du Faubourg Saint-Antoine,RUE DU FAUBOURG SAINT ANTOINE,75011,75111,2.370624,48.853218\n\
1,v,Rue du Faubourg Saint-Antoine,RUE DU FAUBOURG SAINT ANTOINE,75011,75111,2.370349,48.853256\n\
2,,Rue du Faubourg Saint-Antoine,RUE DU FAUBOURG SAINT ANTOINE,75012,75112,2.370568,48.853014\n\
4,,Rue du Faubourg Saint-Antoine,RUE DU FAUBOURG SAINT ANTOINE,75012,75112,2.370666,48.852945\n\
2,v,Rue du Faubourg Saint-Antoine,RUE DU FAUBOURG SAINT ANTOINE,75012,75112,2.370321,48.853221\n\
10,,Rue de Vaugirard,RUE DE VAUGIRARD,75006,75106,2.339722,48.849076\n\
11,,Rue de Vaugirard,RUE DE VAUGIRARD,75006,75106,2.339609,48.848959\n\
12,,Rue de Vaugirard,RUE DE VAUGIRARD,75006,75106,2.339599,48.849089\n\
250,,Boulevard Saint-Germain,BOULEVARD SAINT GERMAIN,75007,75107,2.324222,48.857619\n\
252,,Boulevard Saint-Germain,BOULEVARD SAINT GERMAIN,75007,75107,2.323875,48.857988\n\
252,b,Boulevard Saint-Germain,BOULEVARD SAINT GERMAIN,75007,75107,2.323765,48.858104\n\
250,b,Boulevard Saint-Germain,BOULEVARD SAINT GERMAIN,75007,75107,2.324094,48.857755\n\
1,,Rue Jean Nicot,RUE JEAN NICOT,75007,75107,2.306604,48.862003\n\
2,,Rue Jean Nicot,RUE JEAN NICOT,75007,75107,2.306293,48.862163\n\
3,,Rue Jean Nicot,RUE JEAN NICOT,75007,75107,2.306696,48.861844\n\
3,b,Rue Jean Nicot,RUE JEAN NICOT,75007,75107,2.306892,48.861506\n\
3,t,Rue Jean Nicot,RUE JEAN NICOT,75007,75107,2.307001,48.861316\n\
1,,Boulevard Saint-Germain,BOULEVARD SAINT GERMAIN,75005,75105,2.355594,48.849249\n\
2,,Boulevard Saint-Germain,BOULEVARD SAINT GERMAIN,75005,75105,2.355638,48.849535\n\
107,,Boulevard Ney,BOULEVARD NEY,75018,75118,2.335929,48.897582\n\
129,,Boulevard Ney,BOULEVARD NEY,75018,75118,2.332907,48.897518\n\
107,,Boulevard Bessières,BOULEVARD BESSIERES,75017,75117,2.316917,48.895381\n\
6,,Rue du Quatre Septembre,RUE DU QUATRE SEPTEMBRE,75002,75102,2.339211,48.869181\n\
3,,Rue François Ier,RUE FRANCOIS IER,75008,75108,2.309081,48.865386\n\
1,,Place du Brésil,PLACE DU BRESIL,75017,75117,2.302876,48.884054\n\
2,,Place du Brésil,PLACE DU BRESIL,75017,75117,2.303098,48.884339\n\
3,,Place du Brésil,PLACE DU BRESIL,75017,75117,2.302781,48.884026\n\
4,,Place du Brésil,PLACE DU BRESIL,75017,75117,2.303057,48.884402\n\
5,,Place du Brésil,PLACE DU BRESIL,75017,75117,2.302262,48.884086\n\
6,,Place du Brésil,PLACE DU BRESIL,75017,75117,2.302551,48.884483\n\
7,,Place du Brésil,PLACE DU BRESIL,75017,75117,2.302218,48.884142\n\
8,,Place du Brésil,PLACE DU BRESIL,75017,75117,2.302464,48.884453\n\
5,,Rue Rouget de l'Isle,RUE ROUGET DE L ISLE,75001,75101,2.326278,48.866222\n\
7,,Rue Rouget de l'Isle,RUE ROUGET DE L ISLE,75001,75101,2.326348,48.866316\n\
1,,Rue Leconte de Lisle,RUE LECONTE DE LISLE,75016,75116,2.269534,48.848249\n\
2,v,Boulevard Hyppolyte Marquès,BOULEVARD HYPPOLYTE MARQUES,75013,75113,2.367104,48.8174\n\
1,,Rue Hippolyte Lebas,RUE HIPPOLYTE LEBAS,75009,75109,2.341512,48.87688\n\
68,,Rue de la Chaussée d'Antin,RUE DE LA CHAUSSEE D ANTIN,75009,75109,2.33209,48.875968\n\
70,,Rue de la Chaussée d'Antin,RUE DE LA CHAUSSEE D ANTIN,75009,75109,2.332028,48.876129\n\
1,,Cité d'Antin,CITE D ANTIN,75009,75109,2.334523,48.874108\n\
1,,Rue du Chat Qui Pêche,RUE DU CHAT QUI PECHE,75005,75105,2.346225,48.853112\n\
1,,Rue de la Voûte,RUE DE LA VOUTE,75012,75112,2.406064,48.844969\n\
1,,Route des Petits Ponts,ROUTE DES PETITS PONTS,75019,75119,2.397887,48.890463\n\
5,,Passage de l'Île Louviers,PASSAGE DE L ILE LOUVIERS,75004,75104,2.362272,48.849477\n\
1,,Cours de Vincennes,COURS DE VINCENNES,75020,75120,2.399542,48.848452\n\
5,,Cour de l'Île Louviers,COUR DE L ILE LOUVIERS,75004,75104,2.362676,48.850027\n\
44,,Rue Poissonnière,RUE POISSONNIERE,75002,75102,2.347978,48.870314\n\
46,,Rue Poissonnière,RUE POISSONNIERE,75002,75102,2.347997,48.870446\n\
46,,Rue du Faubourg Poissonnière,RUE DU FAUBOURG POISSONNIERE,75010,75110,2.348045,48.874237\n\
1,,Rue Jasmin,RUE JASMIN,75016,75116,2.267837,48.852406\n\
2,,Rue Jasmin,RUE JASMIN,75016,75116,2.26805,48.852646\n\
1,,Rue de l'Yvette,RUE DE L YVETTE,75016,75116,2.267733,48.852577\n\
2,,Rue de l'Yvette,RUE DE L YVETTE,75016,75116,2.267826,48.852692\n\
3,,Rue de l'Yvette,RUE DE L YVETTE,75016,75116,2.267651,48.852626\n\
40,,Rue de l'Yvette,RUE DE L YVETTE,75016,75116,2.265779,48.853906\n\
42,,Rue de l'Yvette,RUE DE L YVETTE,75016,75116,2.265625,48.853997\n";

/// Four streets have their representative point (which their addresses
/// override); Rue Sorbier and the others have none; the footbridge has no
/// address at all, so the file's point is its only one. Place du Brésil's
/// point (its address 3) is on one side of the square.
const STREETS: &str = "nom_voie,nom_afnor,code_postal,code_insee,id_fantoir,n_adresses,numero_min,numero_max,lon,lat\n\
Rue Jean Nicot,RUE JEAN NICOT,75007,75107,75107_4935,30,1,26,2.307238,48.860548\n\
Rue de la Lune,RUE DE LA LUNE,75002,75102,75102_5850,42,1,43,2.350073,48.869811\n\
Place de l' Hotel de Ville - Esplanade de la Libération,PL HOT VILLE ESPL LA LIBERATION,75004,75104,75104_4664,14,1,15,2.351034,48.85703\n\
Passerelle Simone de Beauvoir,PASSERELLE SIMONE DE BEAUVOIR,75012,75112,,0,0,0,2.380278,48.835333\n\
Place du Brésil,PLACE DU BRESIL,75017,75117,75117_1271,8,1,8,2.302781,48.884026\n";

fn geocoder() -> &'static Geocoder {
    static G: OnceLock<Geocoder> = OnceLock::new();
    G.get_or_init(|| Geocoder::from_readers(ADDRESSES.as_bytes(), STREETS.as_bytes()).unwrap())
}

fn best(query: &str) -> GeocodeMatch {
    best_in(query, &[])
}

fn best_in(query: &str, citycodes: &[&str]) -> GeocodeMatch {
    let found = geocoder().forward(query, citycodes, 5);
    assert!(!found.is_empty(), "no match for {query:?}");
    found[0].clone()
}

fn ll(lon: f64, lat: f64) -> LonLat {
    LonLat::new(lon, lat).unwrap()
}

#[test]
fn the_fixture_loads_every_address_and_street() {
    let g = geocoder();
    assert_eq!(g.len(), 77);
    assert!(!g.is_empty());
    // 33 (street, arrondissement) pairs with addresses, plus the footbridge.
    assert_eq!(g.street_count(), 34);
}

#[test]
fn accents_case_and_abbreviations_do_not_matter() {
    for q in [
        "26 Rue de la Lune, 75002 PARIS",
        "26 rue de la lune",
        "26 R. DE LA LUNE 75002",
        "26, rue de La Lune Paris 2e",
    ] {
        let m = best(q);
        assert_eq!(m.label, "26 Rue de la Lune 75002 Paris", "{q}");
        assert_eq!(m.precision, MatchPrecision::HouseNumber);
        assert!(m.score > 0.95, "{q}: {}", m.score);
    }
    for q in [
        "250 bd St Germain",
        "250 BOULEVARD SAINT-GERMAIN",
        "250 Bd. Saint Germain",
    ] {
        assert_eq!(
            best(q).label,
            "250 Boulevard Saint-Germain 75007 Paris",
            "{q}"
        );
    }
    assert_eq!(
        best("1 r du fg St Antoine").label,
        "1 Rue du Faubourg Saint-Antoine 75011 Paris"
    );
}

#[test]
fn apostrophes_hyphens_and_the_afnor_form_find_the_same_place() {
    let want = "3 Place de l' Hotel de Ville - Esplanade de la Libération 75004 Paris";
    for q in [
        "3 Place de l'Hôtel de Ville - Esplanade de la Libération",
        "3 place de l' Hotel de Ville-Esplanade de la Libération",
        "3 PL HOT VILLE ESPL LA LIBERATION",
    ] {
        assert_eq!(best(q).label, want, "{q}");
    }
    let m = best("Place de l'Hotel de Ville");
    assert_eq!(m.precision, MatchPrecision::Street);
    assert!(
        m.label.starts_with("Place de l' Hotel de Ville"),
        "{}",
        m.label
    );
}

#[test]
fn bis_ter_and_letter_suffixes_find_their_own_entrance() {
    for q in [
        "28 bis rue Sorbier",
        "28B Rue Sorbier",
        "28 b, rue Sorbier",
        "28bis rue sorbier",
    ] {
        assert_eq!(best(q).label, "28 bis Rue Sorbier 75020 Paris", "{q}");
    }
    assert_eq!(
        best("28 ter rue Sorbier").label,
        "28 ter Rue Sorbier 75020 Paris"
    );
    assert_eq!(
        best("28 T rue Sorbier").label,
        "28 ter Rue Sorbier 75020 Paris"
    );
    // No 30 quater: the plain 30, scored lower than an exact hit.
    let m = best("30 quater rue Sorbier");
    assert_eq!(m.label, "30 Rue Sorbier 75020 Paris");
    assert!(m.score < best("30 rue Sorbier").score);
    // A plain number whose BAN entries all have a Paris suffix code.
    assert_eq!(
        best("1 V rue du Faubourg Saint-Antoine").label,
        "1 V Rue du Faubourg Saint-Antoine 75011 Paris"
    );
}

#[test]
fn a_range_of_numbers_takes_the_first() {
    assert_eq!(
        best("10-12 rue de Vaugirard").label,
        "10 Rue de Vaugirard 75006 Paris"
    );
    assert_eq!(
        best("10 à 12 rue de Vaugirard").label,
        "10 Rue de Vaugirard 75006 Paris"
    );
}

#[test]
fn a_street_only_query_lands_on_an_address_of_the_street() {
    let m = best("Rue Jean Nicot");
    assert_eq!(m.label, "Rue Jean Nicot 75007 Paris");
    assert_eq!(m.precision, MatchPrecision::Street);
    // Its 3, in the middle of its five addresses (1 to 3 ter).
    assert_eq!(m.location, ll(2.306696, 48.861844));
    assert_eq!(
        (m.citycode.as_str(), m.postcode.as_str()),
        ("75107", "75007")
    );
    // Not in the streets file: a point of the street's own addresses.
    let m = best("rue sorbier");
    assert_eq!(m.precision, MatchPrecision::Street);
    assert!(m.location.distance_m(ll(2.391627, 48.866486)) < 50.0);
    // Only in the streets file: its point there.
    let m = best("Passerelle Simone de Beauvoir, 75012 PARIS");
    assert_eq!(m.label, "Passerelle Simone de Beauvoir 75012 Paris");
    assert_eq!(m.location, ll(2.380278, 48.835333));
}

/// A street whose numbers crowd at its west end (1 to 11 within 75 m), then
/// run 290 m east along a park (13, 15), as the streets file places it: at
/// its address nearest the median of the longitudes and latitudes, 9.
const CROWDED_AT_ONE_END: &str = "\
1,,Rue du Parc,RUE DU PARC,75012,75112,2.4000,48.8400
3,,Rue du Parc,RUE DU PARC,75012,75112,2.4002,48.8400
5,,Rue du Parc,RUE DU PARC,75012,75112,2.4004,48.8400
7,,Rue du Parc,RUE DU PARC,75012,75112,2.4006,48.8400
9,,Rue du Parc,RUE DU PARC,75012,75112,2.4008,48.8400
11,,Rue du Parc,RUE DU PARC,75012,75112,2.4010,48.8400
13,,Rue du Parc,RUE DU PARC,75012,75112,2.4030,48.8401
15,,Rue du Parc,RUE DU PARC,75012,75112,2.4050,48.8401
";

#[test]
fn a_street_named_without_a_number_lands_at_its_address_nearest_the_middle_of_its_extent() {
    let addresses = format!(
        "numero,rep,nom_voie,nom_afnor,code_postal,code_insee,lon,lat\n{CROWDED_AT_ONE_END}"
    );
    let streets = "nom_voie,nom_afnor,code_postal,code_insee,lon,lat\n\
        Rue du Parc,RUE DU PARC,75012,75112,2.4008,48.8400\n";
    let g = Geocoder::from_readers(addresses.as_bytes(), streets.as_bytes()).unwrap();
    let m = g
        .forward("Rue du Parc, 75012 PARIS", &["75112"], 1)
        .remove(0);
    assert_eq!(m.label, "Rue du Parc 75012 Paris");
    assert_eq!(m.precision, MatchPrecision::Street);
    // The box around its addresses spans 2.4000 to 2.4050: its middle is
    // nearest 13, not in the crowd at the west end.
    assert_eq!(m.location, ll(2.4030, 48.8401));
    // A number it has is still its own address.
    let m = g.forward("9 Rue du Parc", &["75112"], 1).remove(0);
    assert_eq!(m.location, ll(2.4008, 48.8400));
}

#[test]
fn a_postcode_in_the_text_restricts_the_arrondissement() {
    assert_eq!(
        best("Boulevard Saint-Germain, 75005 Paris").citycode,
        "75105"
    );
    assert_eq!(best("Boulevard Saint-Germain 75007").citycode, "75107");
    assert_eq!(
        best("rue du Faubourg Saint-Antoine 75012").citycode,
        "75112"
    );
    assert_eq!(
        best("rue du Faubourg Saint-Antoine, Paris 11e").citycode,
        "75111"
    );
    let m = best("2 rue du Faubourg Saint-Antoine 75012 Paris");
    assert_eq!(m.label, "2 Rue du Faubourg Saint-Antoine 75012 Paris");
    assert!(m.score > 0.95);
}

#[test]
fn citycodes_put_their_arrondissements_first_and_halve_the_others() {
    let all = geocoder().forward("rue de Vaugirard", &["75115"], 5);
    assert_eq!(all[0].citycode, "75115");
    let other = all.iter().find(|m| m.citycode == "75106").unwrap();
    assert!(other.score <= 0.5, "{}", other.score);
    // Postcodes are understood too, and 75116 is the 16th.
    assert_eq!(best_in("Avenue Foch", &["75016"]).citycode, "75116");
    assert_eq!(
        best_in("2 avenue Foch", &["75116"]).label,
        "2 Avenue Foch 75016 Paris"
    );
    // Weak matches outside the area are dropped, not merely demoted.
    assert!(geocoder().forward("Sorbier", &["75102"], 5).is_empty());
    assert_eq!(best("Sorbier").label, "Rue Sorbier 75020 Paris");
}

#[test]
fn a_number_missing_on_the_asked_side_of_a_boundary_street_comes_from_the_other_side() {
    // Odd numbers of the Faubourg Saint-Antoine are in the 11th, even in the 12th.
    let m = best("1 rue du Faubourg Saint-Antoine 75012 Paris");
    assert_eq!(m.label, "1 Rue du Faubourg Saint-Antoine 75011 Paris");
    assert!((0.9..1.0).contains(&m.score), "{}", m.score);
    let m = best_in("10 rue de Vaugirard", &["75115"]);
    assert_eq!(m.label, "10 Rue de Vaugirard 75006 Paris");
    // Without a number there is nothing to cross the boundary for.
    assert_eq!(
        best("rue du Faubourg Saint-Antoine 75012").citycode,
        "75112"
    );
}

#[test]
fn a_missing_house_number_falls_back_to_the_nearest_number_with_a_lower_score() {
    let exact = best("30 rue de la Lune");
    let m = best("32 rue de la Lune");
    assert_eq!(m.label, "30 Rue de la Lune 75002 Paris");
    assert_eq!(m.precision, MatchPrecision::HouseNumber);
    assert!(m.score < exact.score);
    // Same side of the street first: 27 is odd, there are only even numbers,
    // so the nearest is taken and scored lower still.
    let odd = best("27 rue de la Lune");
    assert!(odd.score < m.score);
}

#[test]
fn a_number_missing_from_the_base_is_interpolated_between_its_neighbours() {
    // 111 and 127 lie between 107 and 129 on the same side of Boulevard Ney.
    let (a, b) = (ll(2.335929, 48.897582), ll(2.332907, 48.897518));
    let exact = best("107 boulevard Ney 75018");
    for n in [111, 127] {
        let m = best(&format!("{n} boulevard Ney 75018"));
        assert_eq!(m.label, format!("{n} Boulevard Ney 75018 Paris"));
        assert_eq!(m.precision, MatchPrecision::HouseNumber);
        let t = f64::from(n - 107) / f64::from(129 - 107);
        let want = ll(
            a.lon() + t * (b.lon() - a.lon()),
            a.lat() + t * (b.lat() - a.lat()),
        );
        assert!(m.location.distance_m(want) < 0.01, "{n}: {:?}", m.location);
        assert!(m.score < exact.score, "{n}: {}", m.score);
    }
    // Not between two numbers of its side (only even numbers on Rue de la
    // Lune): the nearest number's address, as before.
    assert_eq!(
        best("25 rue de la Lune").location,
        best("24 rue de la Lune").location
    );
}

/// Place du Brésil's addresses (number, lon, lat), numbered around the square.
const BRESIL: [(u32, f64, f64); 8] = [
    (1, 2.302876, 48.884054),
    (2, 2.303098, 48.884339),
    (3, 2.302781, 48.884026),
    (4, 2.303057, 48.884402),
    (5, 2.302262, 48.884086),
    (6, 2.302551, 48.884483),
    (7, 2.302218, 48.884142),
    (8, 2.302464, 48.884453),
];

/// The Place du Brésil address nearest the centre of the box around them.
fn bresil_centre() -> LonLat {
    let lons = BRESIL.map(|(_, lon, _)| lon);
    let lats = BRESIL.map(|(_, _, lat)| lat);
    let mid = |v: [f64; 8]| {
        (v.iter().copied().fold(f64::INFINITY, f64::min)
            + v.iter().copied().fold(f64::NEG_INFINITY, f64::max))
            / 2.0
    };
    let centre = ll(mid(lons), mid(lats));
    BRESIL
        .iter()
        .map(|&(_, lon, lat)| ll(lon, lat))
        .min_by(|p, q| p.distance_m(centre).total_cmp(&q.distance_m(centre)))
        .unwrap()
}

#[test]
fn a_place_named_without_a_number_lands_at_its_centre() {
    let m = best("Place du Brésil, 75017 PARIS");
    assert_eq!(m.label, "Place du Brésil 75017 Paris");
    assert_eq!(m.precision, MatchPrecision::Street);
    assert_eq!(m.location, bresil_centre());
    // Not the streets file's point, which is on one side of the square.
    assert_ne!(m.location, ll(2.302781, 48.884026));
}

#[test]
fn a_number_a_place_does_not_have_lands_at_its_centre() {
    // The square is numbered 1 to 8.
    let m = best("12 Place du Brésil");
    assert_eq!(m.label, "Place du Brésil 75017 Paris");
    assert_eq!(m.precision, MatchPrecision::Street);
    assert_eq!(m.location, bresil_centre());
    let own = best("3 Place du Brésil");
    assert!(m.score < own.score, "{}", m.score);
    // A number it has is its own address.
    assert_eq!(own.label, "3 Place du Brésil 75017 Paris");
    assert_eq!(own.location, ll(2.302781, 48.884026));
}

/// A geocoder on its own BAN rows (`numero,rep,nom_voie,nom_afnor,
/// code_postal,code_insee,lon,lat`) and no streets file rows.
fn geocoder_of(rows: &str) -> Geocoder {
    let addresses = format!("numero,rep,nom_voie,nom_afnor,code_postal,code_insee,lon,lat\n{rows}");
    let streets = "nom_voie,nom_afnor,code_postal,code_insee,lon,lat\n";
    Geocoder::from_readers(addresses.as_bytes(), streets.as_bytes()).unwrap()
}

/// Villa Murat, a private way numbered 1 to 14 that opens onto Boulevard
/// Murat between its 153 and 155; Place Charles Fillion, numbered around
/// the square, with Rue Boursault's 83 and 85 at its corner.
const NEXT_DOOR: &str = "\
1,,Villa Murat,VILLA MURAT,75016,75116,2.262685,48.83796
2,,Villa Murat,VILLA MURAT,75016,75116,2.262637,48.838026
3,,Villa Murat,VILLA MURAT,75016,75116,2.262453,48.838046
4,,Villa Murat,VILLA MURAT,75016,75116,2.262503,48.838076
9,,Villa Murat,VILLA MURAT,75016,75116,2.26197,48.838225
10,,Villa Murat,VILLA MURAT,75016,75116,2.262183,48.838196
12,,Villa Murat,VILLA MURAT,75016,75116,2.262103,48.838226
14,,Villa Murat,VILLA MURAT,75016,75116,2.261924,48.838293
151,,Boulevard Murat,BOULEVARD MURAT,75016,75116,2.262368,48.837652
153,,Boulevard Murat,BOULEVARD MURAT,75016,75116,2.26264,48.837846
153,b,Boulevard Murat,BOULEVARD MURAT,75016,75116,2.262733,48.837913
155,,Boulevard Murat,BOULEVARD MURAT,75016,75116,2.262824,48.837977
1,,Place Charles Fillion,PLACE CHARLES FILLION,75017,75117,2.317225,48.886691
2,,Place Charles Fillion,PLACE CHARLES FILLION,75017,75117,2.317797,48.887447
3,,Place Charles Fillion,PLACE CHARLES FILLION,75017,75117,2.316879,48.886514
4,,Place Charles Fillion,PLACE CHARLES FILLION,75017,75117,2.317653,48.887534
5,,Place Charles Fillion,PLACE CHARLES FILLION,75017,75117,2.316662,48.886517
6,,Place Charles Fillion,PLACE CHARLES FILLION,75017,75117,2.317534,48.887605
83,,Rue Boursault,RUE BOURSAULT,75017,75117,2.317109,48.886491
85,,Rue Boursault,RUE BOURSAULT,75017,75117,2.317008,48.88655
";

#[test]
fn a_number_far_beyond_the_last_of_a_way_is_that_of_the_street_it_opens_onto() {
    let g = geocoder_of(NEXT_DOOR);
    let top = |q: &str| g.forward(q, &["75116"], 1).remove(0);
    let m = top("153 Villa Murat");
    assert_eq!(m.label, "153 Boulevard Murat 75016 Paris");
    assert_eq!(m.precision, MatchPrecision::HouseNumber);
    assert_eq!(m.location, ll(2.26264, 48.837846));
    assert!(m.score < top("153 Boulevard Murat").score, "{}", m.score);
    // The suffix asked is kept.
    assert_eq!(
        top("153 bis Villa Murat").label,
        "153 bis Boulevard Murat 75016 Paris"
    );
    // Just past the last number, still a number of the way: its nearest one.
    assert_eq!(top("16 Villa Murat").label, "14 Villa Murat 75016 Paris");
    // Far beyond, but no street next door has it: the nearest number of its
    // side, as before.
    assert_eq!(top("301 Villa Murat").label, "9 Villa Murat 75016 Paris");
}

#[test]
fn a_square_keeps_a_number_it_lacks_at_its_centre_even_when_a_street_at_its_corner_has_it() {
    let g = geocoder_of(NEXT_DOOR);
    let m = g
        .forward("85 Place Charles Fillion", &["75117"], 1)
        .remove(0);
    assert_eq!(m.label, "Place Charles Fillion 75017 Paris");
    assert_eq!(m.precision, MatchPrecision::Street);
}

/// Pont des Invalides, which the BAN gives to the 8th with one point on the
/// 8th's bank (a corner of Cours Albert Ier next to it); across the Seine,
/// the 7th's Port du Gros Caillou and Quai d'Orsay; Rue de la Lune in the
/// 2nd, 2 km away.
const BRIDGE: &str = "\
3,,Pont des Invalides,PONT DES INVALIDES,75008,75108,2.310218,48.864259
1,x,Cours Albert Ier,COURS ALBERT IER,75008,75108,2.309585,48.864268
2,,Port du Gros Caillou,PORT DU GROS CAILLOU,75007,75107,2.30993,48.863033
42,,Quai d'Orsay,QUAI D ORSAY,75007,75107,2.310729,48.862923
26,,Rue de la Lune,RUE DE LA LUNE,75002,75102,2.349206,48.869892
";

#[test]
fn a_way_found_only_outside_the_arrondissement_asked_lands_halfway_to_it() {
    let g = geocoder_of(BRIDGE);
    let top = |q: &str, code: &str| g.forward(q, &[code], 1).remove(0);
    let own = ll(2.310218, 48.864259);
    // In its own arrondissement: its point.
    let m = top("Pont des Invalides, 75008 PARIS", "75108");
    assert_eq!(m.location, own);
    // From the 7th: halfway between its point and the 7th's nearest
    // address, the middle of the bridge.
    let m = top("Pont des Invalides, 75007 PARIS", "75107");
    assert_eq!(m.label, "Pont des Invalides 75008 Paris");
    assert_eq!(m.precision, MatchPrecision::Street);
    assert_eq!(
        (m.citycode.as_str(), m.postcode.as_str()),
        ("75108", "75008")
    );
    let halfway = ll((2.310218 + 2.30993) / 2.0, (48.864259 + 48.863033) / 2.0);
    assert!(m.location.distance_m(halfway) < 0.01, "{:?}", m.location);
    assert!(m.score < top("Pont des Invalides", "75108").score);
    // The 2nd is not across its end: its point.
    assert_eq!(
        top("Pont des Invalides, 75002 PARIS", "75102").location,
        own
    );
    // A number is not moved.
    assert_eq!(top("3 Pont des Invalides", "75107").location, own);
}

/// Rue du Nord (18th) and Rue du Nil (2nd) both begin with `Rue du N`.
const CUT_SHORT: &str = "\
1,,Rue du Nil,RUE DU NIL,75002,75102,2.348269,48.867801
3,,Rue du Nil,RUE DU NIL,75002,75102,2.34811,48.867787
1,,Rue du Nord,RUE DU NORD,75018,75118,2.352152,48.89265
3,,Rue du Nord,RUE DU NORD,75018,75118,2.351957,48.892687
1,,Port de l'Hôtel de Ville,PORT DE L HOTEL DE VILLE,75004,75104,2.357032,48.853255
3,,Port de l'Hôtel de Ville,PORT DE L HOTEL DE VILLE,75004,75104,2.356609,48.853407
1,,Rue de l'Hôtel de Ville,RUE DE L HOTEL DE VILLE,75004,75104,2.356722,48.854108
";

#[test]
fn a_name_cut_short_finds_the_one_street_it_begins_in_the_arrondissement() {
    let g = geocoder_of(CUT_SHORT);
    let m = g
        .forward("3 Rue du N, 75018 PARIS", &["75118"], 1)
        .remove(0);
    assert_eq!(m.label, "3 Rue du Nord 75018 Paris");
    assert_eq!(m.precision, MatchPrecision::HouseNumber);
    assert_eq!(m.location, ll(2.351957, 48.892687));
    let whole = g
        .forward("3 Rue du Nord, 75018 PARIS", &["75118"], 1)
        .remove(0);
    assert!(m.score < whole.score, "{}", m.score);
    assert_eq!(
        g.forward("3 Rue du N", &["75102"], 1)[0].label,
        "3 Rue du Nil 75002 Paris"
    );
    // Cut at an apostrophe: the article is all that is left of the name.
    assert_eq!(
        g.forward("1 Port de l, 75004 PARIS", &[], 1)[0].label,
        "1 Port de l'Hôtel de Ville 75004 Paris"
    );
    // Two streets begin so without an arrondissement to choose: no guess.
    assert!(g.forward("3 Rue du N", &[], 5).is_empty());
    // A street type alone begins every name of its type.
    assert!(g.forward("3 Rue", &["75118"], 5).is_empty());
}

#[test]
fn a_street_of_another_arrondissement_is_kept_even_without_its_number() {
    // A bridge or boundary street often carries the postcode of its other end.
    let m = best_in("15 rue Jean Nicot", &["75115"]);
    assert_eq!(m.citycode, "75107");
    assert_eq!(m.precision, MatchPrecision::HouseNumber);
    assert!(m.score < 0.5, "{}", m.score);
}

#[test]
fn a_typo_or_a_split_word_in_the_street_name_is_forgiven() {
    assert_eq!(
        best("26 rue de la Lnue").label,
        "26 Rue de la Lune 75002 Paris"
    );
    assert_eq!(
        best("58 rue du Verbois").label,
        "58 Rue du Vertbois 75003 Paris"
    );
    assert_eq!(
        best("58 rue du Vert Bois").label,
        "58 Rue du Vertbois 75003 Paris"
    );
    assert_eq!(best("28 rue Sorbeir").label, "28 Rue Sorbier 75020 Paris");
    assert!(best("26 rue de la Lnue").score < best("26 rue de la Lune").score);
}

#[test]
fn a_misspelt_word_that_is_another_street_word_still_finds_the_street() {
    // "Lisle" is a word of Rue Leconte de Lisle, "Hippolyte" of Rue Hippolyte Lebas.
    assert_eq!(
        best("7 Rue Rouget de Lisle, 75001 PARIS").label,
        "7 Rue Rouget de l'Isle 75001 Paris"
    );
    assert_eq!(
        best("2 Boulevard Hippolyte Marquès, 75013 PARIS").label,
        "2 V Boulevard Hyppolyte Marquès 75013 Paris"
    );
    // A street type is not a misspelling: "Route des Îles" is not Rue de la Voûte.
    let found = geocoder().forward("Route des Îles", &["75112"], 5);
    assert!(found.is_empty(), "{found:?}");
}

#[test]
fn an_abbreviated_word_is_expanded_even_when_a_word_one_letter_away_exists() {
    // "Chau." is Chaussée, though "Chat" (Rue du Chat Qui Pêche) is one letter away.
    assert_eq!(
        best("70 Rue de la Chau. d'Antin, 75009 PARIS").label,
        "70 Rue de la Chaussée d'Antin 75009 Paris"
    );
}

#[test]
fn a_street_type_one_letter_off_prefers_the_street_of_that_type() {
    // "cours" is a type of its own (Cours de Vincennes), not a misspelling.
    assert_eq!(
        best("5 cours de l'île Louviers, 75004 PARIS").label,
        "5 Cour de l'Île Louviers 75004 Paris"
    );
    assert_eq!(
        best("5 passage de l'île Louviers").label,
        "5 Passage de l'Île Louviers 75004 Paris"
    );
}

#[test]
fn the_exact_name_and_number_next_door_beat_a_partial_name_in_the_arrondissement_asked() {
    // Rue Poissonnière is in the 2nd; the 10th has the Rue du Faubourg Poissonnière.
    let m = best_in("46 Rue Poissonnière, 75010 PARIS", &["75110"]);
    assert_eq!(m.label, "46 Rue Poissonnière 75002 Paris");
    assert!(m.score > 0.9, "{}", m.score);
    assert_eq!(
        best_in("46 Rue du Faubourg Poissonnière, 75010 PARIS", &["75110"]).label,
        "46 Rue du Faubourg Poissonnière 75010 Paris"
    );
}

#[test]
fn a_street_word_before_the_street_places_it_where_the_two_streets_meet() {
    let m = best("Jasmin Rue de l'Yvette, 75016 PARIS");
    assert_eq!(m.label, "Rue de l'Yvette 75016 Paris");
    let jasmin = [ll(2.267837, 48.852406), ll(2.26805, 48.852646)];
    let yvette = [
        ll(2.267733, 48.852577),
        ll(2.267826, 48.852692),
        ll(2.267651, 48.852626),
        ll(2.265779, 48.853906),
        ll(2.265625, 48.853997),
    ];
    let gap = |p: &LonLat| {
        jasmin
            .iter()
            .map(|q| p.distance_m(*q))
            .fold(f64::INFINITY, f64::min)
    };
    let nearest = yvette
        .iter()
        .min_by(|a, b| gap(a).total_cmp(&gap(b)))
        .unwrap();
    assert_eq!(m.location, *nearest);
    assert_ne!(m.location, best("Rue de l'Yvette").location);
    // Streets that do not meet: the street's own point.
    assert_eq!(
        best("Sorbier Rue de la Lune").location,
        best("Rue de la Lune").location
    );
}

#[test]
fn locator_words_around_an_address_are_not_part_of_the_name() {
    for q in [
        "en face du 26 rue de la Lune",
        "au niveau du 26 rue de la Lune",
        "devant le n° 26 rue de la Lune",
        "N° 26, rue de la lune",
    ] {
        let m = best(q);
        assert_eq!(m.label, "26 Rue de la Lune 75002 Paris", "{q}");
        assert!(m.score > 0.95, "{q}: {}", m.score);
    }
}

#[test]
fn a_missing_or_wrong_street_type_still_finds_the_street() {
    assert_eq!(best("2 Foch").label, "2 Avenue Foch 75016 Paris");
    let m = best("2 rue Foch");
    assert_eq!(m.label, "2 Avenue Foch 75016 Paris");
    assert!(m.score < best("2 avenue Foch").score);
}

#[test]
fn boulevards_des_marechaux_stands_for_the_marshal_boulevards() {
    let m = best("107 Boulevards des Maréchaux, 75017 PARIS");
    assert_eq!(m.label, "107 Boulevard Bessières 75017 Paris");
    let m = best("107 Boulevards des Maréchaux, 75018 PARIS");
    assert_eq!(m.label, "107 Boulevard Ney 75018 Paris");
}

#[test]
fn numbers_in_words_and_roman_numerals_match_digits() {
    assert_eq!(
        best("6 Rue du 4 septembre, 75002 PARIS").label,
        "6 Rue du Quatre Septembre 75002 Paris"
    );
    assert_eq!(
        best("3 Rue François 1er").label,
        "3 Rue François Ier 75008 Paris"
    );
}

#[test]
fn a_place_name_before_the_street_is_skipped() {
    let m = best("Square des Fleurs Rue Jean Nicot, 75007 PARIS");
    assert_eq!(m.label, "Rue Jean Nicot 75007 Paris");
    assert_eq!(
        best("ECOLE MATERNELLE 3 RUE JEAN NICOT").label,
        "3 Rue Jean Nicot 75007 Paris"
    );
}

#[test]
fn a_street_named_next_to_another_is_placed_where_they_meet() {
    let m = best("Boulevard Saint-Germain Rue Jean Nicot, 75007 PARIS");
    assert_eq!(m.label, "Rue Jean Nicot 75007 Paris");
    assert_eq!(m.precision, MatchPrecision::Street);
    // The Jean Nicot address nearest to the boulevard's addresses, not the street's point.
    let boulevard = [
        ll(2.324222, 48.857619),
        ll(2.323875, 48.857988),
        ll(2.323765, 48.858104),
        ll(2.324094, 48.857755),
    ];
    let nicot = [
        ll(2.306604, 48.862003),
        ll(2.306293, 48.862163),
        ll(2.306696, 48.861844),
        ll(2.306892, 48.861506),
        ll(2.307001, 48.861316),
    ];
    let nearest = nicot
        .iter()
        .min_by(|a, b| {
            let d = |p: &LonLat| {
                boulevard
                    .iter()
                    .map(|q| p.distance_m(*q))
                    .fold(f64::INFINITY, f64::min)
            };
            d(a).total_cmp(&d(b))
        })
        .unwrap();
    assert_eq!(m.location, *nearest);
    assert_ne!(m.location, best("Rue Jean Nicot").location);
}

#[test]
fn nothing_plausible_gives_no_match() {
    let g = geocoder();
    for q in [
        "",
        "   ",
        "75002 PARIS",
        "xyzzy plugh",
        "Mairie du 19e arrondissement",
    ] {
        assert!(
            g.forward(q, &[], 5).is_empty(),
            "{q:?}: {:?}",
            g.forward(q, &[], 5)
        );
    }
    assert!(g.forward("26 rue de la Lune", &[], 0).is_empty());
}

#[test]
fn results_are_ranked_and_limited() {
    let all = geocoder().forward("rue de Vaugirard", &[], 10);
    assert_eq!(all.len(), 2);
    assert!(all.windows(2).all(|w| w[0].score >= w[1].score));
    assert_eq!(geocoder().forward("rue de Vaugirard", &[], 1).len(), 1);
    for m in &all {
        assert!((0.0..=1.0).contains(&m.score));
    }
}

#[test]
fn labels_spell_out_bis_ter_quater_and_keep_other_codes() {
    assert_eq!(
        address_label(12, "b", "Rue X", "75011"),
        "12 bis Rue X 75011 Paris"
    );
    assert_eq!(
        address_label(12, "t", "Rue X", "75011"),
        "12 ter Rue X 75011 Paris"
    );
    assert_eq!(
        address_label(12, "q", "Rue X", "75011"),
        "12 quater Rue X 75011 Paris"
    );
    assert_eq!(
        address_label(12, "p1", "Rue X", "75011"),
        "12 P1 Rue X 75011 Paris"
    );
    assert_eq!(
        address_label(12, "", "Rue X", "75011"),
        "12 Rue X 75011 Paris"
    );
    assert_eq!(MatchPrecision::HouseNumber.as_str(), "housenumber");
    assert_eq!(MatchPrecision::Street.to_string(), "street");
}

#[test]
fn reverse_returns_the_nearest_address_with_its_distance_in_metres() {
    let g = geocoder();
    // A few metres off 26 Rue de la Lune, between 24 and 28.
    let p = ll(2.349210, 48.869870);
    let m = g.reverse(p, 50.0).unwrap();
    assert_eq!(m.label, "26 Rue de la Lune 75002 Paris");
    assert_eq!(m.citycode, "75102");
    assert!((m.distance_m - p.distance_m(ll(2.349206, 48.869892))).abs() < 1e-9);
    assert!(m.distance_m < 3.0, "{}", m.distance_m);
    assert!(g.reverse(p, 1.0).is_none());
    assert!(g.reverse(p, f64::NAN).is_none());
    assert!(g.reverse(ll(-73.98, 40.75), 1_000.0).is_none());
}

#[test]
fn reverse_uses_metres_not_degrees() {
    // Two addresses: one 0.0004° east (~29 m), one 0.0003° north (~33 m).
    // In degrees the north one is nearer; in metres the east one is.
    let csv = "numero,rep,nom_voie,nom_afnor,code_postal,code_insee,lon,lat\n\
               1,,Rue Est,RUE EST,75001,75101,2.3404,48.8600\n\
               2,,Rue Nord,RUE NORD,75001,75101,2.3400,48.8603\n";
    let g = Geocoder::from_readers(
        csv.as_bytes(),
        "nom_voie,nom_afnor,code_postal,code_insee,lon,lat\n".as_bytes(),
    )
    .unwrap();
    let m = g.reverse(ll(2.3400, 48.8600), 100.0).unwrap();
    assert_eq!(m.label, "1 Rue Est 75001 Paris");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn reverse_finds_the_same_distance_as_a_brute_force_scan(
        points in prop::collection::vec((2.22f64..2.47, 48.81f64..48.91), 1..200),
        queries in prop::collection::vec((2.20f64..2.49, 48.79f64..48.93), 1..20),
    ) {
        let mut csv = String::from("numero,rep,nom_voie,nom_afnor,code_postal,code_insee,lon,lat\n");
        for (i, (lon, lat)) in points.iter().enumerate() {
            csv.push_str(&format!("{},,Rue X,RUE X,75001,75101,{lon},{lat}\n", i + 1));
        }
        let g = Geocoder::from_readers(csv.as_bytes(), "nom_voie,nom_afnor,code_postal,code_insee,lon,lat\n".as_bytes()).unwrap();
        for (lon, lat) in queries {
            let q = ll(lon, lat);
            let brute = points.iter().map(|&(x, y)| q.distance_m(ll(x, y))).fold(f64::INFINITY, f64::min);
            let got = g.reverse(q, f64::INFINITY).unwrap();
            prop_assert!((got.distance_m - brute).abs() < 1e-6, "{} vs {}", got.distance_m, brute);
        }
    }
}

#[test]
fn the_geocoder_can_be_shared_between_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Geocoder>();
}

#[test]
fn a_missing_column_is_named() {
    let err = Geocoder::from_readers("numero,nom_voie\n1,Rue X\n".as_bytes(), STREETS.as_bytes())
        .unwrap_err();
    assert!(
        matches!(err, GeocodeError::MissingColumn { column: "rep", .. }),
        "{err}"
    );
}

#[test]
fn a_bad_row_fails_with_its_line_field_value_and_reason() {
    let csv = "numero,rep,nom_voie,nom_afnor,code_postal,code_insee,lon,lat\n\
               1,,Rue X,RUE X,75001,75101,2.34,48.86\n\
               2,,Rue X,RUE X,75001,75101,2.34,91.5\n";
    let err = Geocoder::from_readers(csv.as_bytes(), STREETS.as_bytes()).unwrap_err();
    match &err {
        GeocodeError::BadField {
            line, field, value, ..
        } => {
            assert_eq!((*line, *field, value.as_str()), (3, "lon/lat", "2.34,91.5"));
        }
        other => panic!("{other}"),
    }
    assert!(err.to_string().contains("line 3"), "{err}");
    let csv = "numero,rep,nom_voie,nom_afnor,code_postal,code_insee,lon,lat\n\
               douze,,Rue X,RUE X,75001,75101,2.34,48.86\n";
    let err = Geocoder::from_readers(csv.as_bytes(), STREETS.as_bytes()).unwrap_err();
    assert!(
        matches!(&err, GeocodeError::BadField { line: 2, field: "numero", value, .. } if value == "douze"),
        "{err}"
    );
}

#[test]
fn an_empty_address_file_is_refused() {
    let err = Geocoder::from_readers(
        "numero,rep,nom_voie,nom_afnor,code_postal,code_insee,lon,lat\n".as_bytes(),
        STREETS.as_bytes(),
    )
    .unwrap_err();
    assert!(matches!(err, GeocodeError::Empty { .. }), "{err}");
}

#[test]
fn a_missing_file_is_named() {
    let err = Geocoder::from_files(
        Path::new("/nonexistent/a.csv.gz"),
        Path::new("/nonexistent/b.csv"),
    )
    .unwrap_err();
    assert!(err.to_string().contains("/nonexistent/a.csv.gz"), "{err}");
}
