//! Report photos through the real router: the multipart upload, the public
//! list, the served files and their headers, the after-treatment photo, and
//! what is (not) stored when an upload is refused.
//!
//! A fourth photo is refused with 409 Conflict: the request is well-formed,
//! but the report's state (it already holds three) does not let it in. More
//! than three `photo` fields in one request is the request's own fault: 422.
#![allow(clippy::unwrap_used)]

mod common;
mod support_photos;

use std::path::PathBuf;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use image::ImageFormat;
use serde_json::{Value, json};

use civicmap::photos::{Limits, Variant, file_name, sanitise};
use civicmap::store::photos::{PhotoBatch, PhotoRow, PhotosAdded};
use common::{Harness, Reply, anomaly, client_id, harness};
use support_photos::{
    Part, contains, has_exif, jpeg, jpeg_with_gps, latitude_bytes, longitude_bytes, multipart,
    multipart_content_type, noise, photo_part, picture, png, text_part,
};

// ---------------------------------------------------------------- images

/// Deterministic bytes that are no image.
fn random_bytes(n: usize) -> Vec<u8> {
    let mut s = 0x9E37_79B9_7F4A_7C15_u64;
    (0..n)
        .map(|_| {
            s ^= s << 7;
            s ^= s >> 9;
            (s >> 24) as u8
        })
        .collect()
}

// ---------------------------------------------------------------- requests

fn upload(h: &Harness, who: Option<&str>, id: i64, parts: &[Part<'_>]) -> Reply {
    h.send_as(
        who,
        Request::post(format!("/api/v1/reports/{id}/photos"))
            .header(header::CONTENT_TYPE, multipart_content_type())
            .body(Body::from(multipart(parts)))
            .unwrap(),
    )
}

fn upload_one(h: &Harness, who: &str, id: i64, bytes: &[u8]) -> Reply {
    upload(h, Some(who), id, &[photo_part(bytes)])
}

/// A new report of its own, filed by the app key.
fn fresh_report(h: &Harness) -> i64 {
    let r = h.post_as(
        Some("app"),
        "/api/v1/reports",
        &anomaly(&client_id("photo")),
    );
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    r.json()["id"].as_i64().unwrap()
}

fn set_status(h: &Harness, id: i64, status: &str) {
    let r = h.post_as(
        Some("agent"),
        &format!("/api/v1/reports/{id}/status"),
        &json!({ "status": status }),
    );
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
}

fn photos_of(h: &Harness, id: i64) -> Vec<Value> {
    let r = h.get(&format!("/api/v1/reports/{id}/photos"));
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    r.json()["photos"].as_array().unwrap().clone()
}

fn photos_dir(h: &Harness) -> PathBuf {
    h.app.photos_dir()
}

/// Where the full-size rendition of `upload` would be stored.
fn stored_path(h: &Harness, upload: &[u8]) -> PathBuf {
    let s = sanitise(upload, &Limits::default()).unwrap();
    photos_dir(h).join(file_name(&s.hash, Variant::Full))
}

/// No file of the photos directory holds these bytes.
fn assert_not_on_disk(h: &Harness, bytes: &[u8]) {
    let Ok(entries) = std::fs::read_dir(photos_dir(h)) else {
        return;
    };
    for e in entries {
        let stored = std::fs::read(e.unwrap().path()).unwrap_or_default();
        assert!(stored != bytes, "the upload was stored as it came");
    }
}

fn error_of(r: &Reply, status: StatusCode) -> Value {
    assert_eq!(r.status, status, "{}", r.text());
    assert_eq!(r.headers[header::CONTENT_TYPE], "application/json");
    r.json()
}

// ---------------------------------------------------------------- tests

#[test]
fn an_uploaded_photo_is_answered_201_and_served_as_a_jpeg_without_its_exif_gps() {
    let h = harness();
    let id = fresh_report(h);
    let input = jpeg_with_gps(&picture(64, 48, 1));
    assert!(has_exif(&input), "the test photo carries no EXIF");
    assert!(contains(&input, &latitude_bytes()));

    let r = upload_one(h, "app", id, &input);
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let body = r.json();
    assert_eq!(body["report_id"], id);
    let photo = &body["photos"][0];
    assert!(photo["id"].as_i64().unwrap() > 0);
    assert_eq!(photo["width"], 64);
    assert_eq!(photo["height"], 48);
    assert_eq!(photo["after_treatment"], false);
    let url = photo["url"].as_str().unwrap();
    let full_url = photo["full_url"].as_str().unwrap();
    assert!(
        url.starts_with("/photos/") && url.ends_with("-display.jpg"),
        "{url}"
    );
    assert!(full_url.ends_with("-full.jpg"), "{full_url}");

    for u in [url, full_url] {
        let served = h.get(u);
        assert_eq!(served.status, StatusCode::OK, "{u}");
        let img = image::load_from_memory_with_format(&served.body, ImageFormat::Jpeg).unwrap();
        assert_eq!((img.width(), img.height()), (64, 48));
        assert!(!has_exif(&served.body), "EXIF served in {u}");
        for secret in [
            &latitude_bytes()[..],
            &longitude_bytes()[..],
            b"SpyCam",
            b"Exif",
        ] {
            assert!(!contains(&served.body, secret), "{u} holds {secret:?}");
        }
    }
    assert_eq!(photos_of(h, id), body["photos"].as_array().unwrap().clone());
}

#[test]
fn a_photo_larger_than_the_api_wide_body_limit_is_accepted_on_the_photo_route() {
    let h = harness();
    let id = fresh_report(h);
    let input = jpeg(&noise(320, 240));
    assert!(input.len() > 64 * 1024, "{} bytes", input.len());
    let r = upload_one(h, "app", id, &input);
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
}

#[test]
fn three_photos_in_one_request_are_stored_and_a_fourth_is_refused_with_409_and_not_stored() {
    let h = harness();
    let id = fresh_report(h);
    let photos: Vec<Vec<u8>> = (10..13).map(|s| jpeg(&picture(40, 30, s))).collect();
    let parts: Vec<Part<'_>> = photos.iter().map(|p| photo_part(p)).collect();
    let r = upload(h, Some("app"), id, &parts);
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    assert_eq!(r.json()["photos"].as_array().unwrap().len(), 3);

    let fourth = jpeg(&picture(40, 30, 13));
    let e = error_of(&upload_one(h, "app", id, &fourth), StatusCode::CONFLICT);
    assert!(e["message"].as_str().unwrap().contains("at most 3"), "{e}");
    assert_eq!(photos_of(h, id).len(), 3);
    assert!(
        !stored_path(h, &fourth).exists(),
        "the fourth photo's file was written"
    );
}

#[test]
fn retrying_the_three_photos_of_a_full_report_gets_them_back_with_200() {
    let h = harness();
    let id = fresh_report(h);
    let photos: Vec<Vec<u8>> = (60..63).map(|s| jpeg(&picture(40, 30, s))).collect();
    let parts: Vec<Part<'_>> = photos.iter().map(|p| photo_part(p)).collect();
    let first = upload(h, Some("app"), id, &parts);
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.text());
    let again = upload(h, Some("app"), id, &parts);
    assert_eq!(again.status, StatusCode::OK, "{}", again.text());
    assert_eq!(again.json(), first.json());
    assert_eq!(photos_of(h, id).len(), 3);
}

#[test]
fn photos_that_would_take_a_report_over_three_are_all_refused() {
    let h = harness();
    let id = fresh_report(h);
    let first: Vec<Vec<u8>> = (20..22).map(|s| jpeg(&picture(40, 30, s))).collect();
    let parts: Vec<Part<'_>> = first.iter().map(|p| photo_part(p)).collect();
    assert_eq!(
        upload(h, Some("app"), id, &parts).status,
        StatusCode::CREATED
    );

    let more: Vec<Vec<u8>> = (22..24).map(|s| jpeg(&picture(40, 30, s))).collect();
    let parts: Vec<Part<'_>> = more.iter().map(|p| photo_part(p)).collect();
    error_of(&upload(h, Some("app"), id, &parts), StatusCode::CONFLICT);
    assert_eq!(photos_of(h, id).len(), 2, "one of the two was stored");
    for p in &more {
        assert!(!stored_path(h, p).exists());
    }
}

#[test]
fn four_photo_fields_in_one_request_are_refused_with_422() {
    let h = harness();
    let id = fresh_report(h);
    let photos: Vec<Vec<u8>> = (30..34).map(|s| jpeg(&picture(40, 30, s))).collect();
    let parts: Vec<Part<'_>> = photos.iter().map(|p| photo_part(p)).collect();
    let e = error_of(
        &upload(h, Some("app"), id, &parts),
        StatusCode::UNPROCESSABLE_ENTITY,
    );
    assert_eq!(e["field"], "photo");
    assert!(photos_of(h, id).is_empty());
}

#[test]
fn a_png_declared_as_image_jpeg_is_read_as_a_png_and_served_as_a_jpeg() {
    let h = harness();
    let id = fresh_report(h);
    let input = png(&picture(50, 40, 2));
    let r = upload(
        h,
        Some("app"),
        id,
        &[Part {
            name: "photo",
            file_name: Some("photo.jpg"),
            content_type: Some("image/jpeg"),
            bytes: &input,
        }],
    );
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let served = h.get(r.json()["photos"][0]["full_url"].as_str().unwrap());
    assert_eq!(served.status, StatusCode::OK);
    assert_eq!(&served.body[..2], &[0xFF, 0xD8], "not a JPEG");
    let img = image::load_from_memory_with_format(&served.body, ImageFormat::Jpeg).unwrap();
    assert_eq!((img.width(), img.height()), (50, 40));
}

#[test]
fn random_bytes_are_refused_with_415_and_nothing_is_stored() {
    let h = harness();
    let id = fresh_report(h);
    let junk = random_bytes(4096);
    let e = error_of(
        &upload_one(h, "app", id, &junk),
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
    );
    assert_eq!(e["error"], "unsupported_media_type");
    assert!(
        e["message"].as_str().unwrap().contains("not an image"),
        "{e}"
    );
    assert!(photos_of(h, id).is_empty());
    assert_not_on_disk(h, &junk);
}

#[test]
fn a_good_photo_beside_a_bad_one_is_not_stored_either() {
    let h = harness();
    let id = fresh_report(h);
    let good = jpeg(&picture(40, 30, 40));
    let junk = random_bytes(512);
    let e = error_of(
        &upload(h, Some("app"), id, &[photo_part(&good), photo_part(&junk)]),
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
    );
    assert!(
        e["message"].as_str().unwrap().starts_with("photo 2 of 2"),
        "{e}"
    );
    assert!(photos_of(h, id).is_empty());
    assert!(!stored_path(h, &good).exists());
}

#[test]
fn a_photo_over_10_mib_is_refused_with_413() {
    let h = harness();
    let id = fresh_report(h);
    let mut big = jpeg(&picture(16, 16, 3));
    big.resize(Limits::default().max_bytes + 1, 0);
    let e = error_of(
        &upload_one(h, "app", id, &big),
        StatusCode::PAYLOAD_TOO_LARGE,
    );
    assert_eq!(e["error"], "payload_too_large");
    assert!(photos_of(h, id).is_empty());
}

#[test]
fn a_request_over_the_photo_route_limit_is_refused_with_413() {
    let h = harness();
    let id = fresh_report(h);
    let chunk = vec![0u8; 9 * 1024 * 1024];
    let parts: Vec<Part<'_>> = (0..4)
        .map(|_| Part {
            name: "padding",
            file_name: None,
            content_type: None,
            bytes: &chunk,
        })
        .collect();
    let e = error_of(
        &upload(h, Some("app"), id, &parts),
        StatusCode::PAYLOAD_TOO_LARGE,
    );
    assert_eq!(e["error"], "payload_too_large");
}

#[test]
fn an_upload_without_a_key_is_401_and_with_an_analyst_or_admin_key_403() {
    let h = harness();
    let id = fresh_report(h);
    let input = jpeg(&picture(40, 30, 4));
    let r = upload(h, None, id, &[photo_part(&input)]);
    assert_eq!(
        error_of(&r, StatusCode::UNAUTHORIZED)["error"],
        "unauthorized"
    );
    for role in ["analyst", "admin"] {
        let r = upload_one(h, role, id, &input);
        assert_eq!(error_of(&r, StatusCode::FORBIDDEN)["error"], "forbidden");
    }
    assert!(photos_of(h, id).is_empty());
}

#[test]
fn an_agent_key_may_add_a_reporters_photo_too() {
    let h = harness();
    let id = fresh_report(h);
    let r = upload_one(h, "agent", id, &jpeg(&picture(40, 30, 5)));
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
}

#[test]
fn an_agent_adds_the_after_treatment_photo_once_the_report_is_done() {
    let h = harness();
    let id = fresh_report(h);
    set_status(h, id, "done");
    let after = jpeg(&picture(48, 32, 6));
    let r = upload(
        h,
        Some("agent"),
        id,
        &[photo_part(&after), text_part("after_treatment", "true")],
    );
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    assert_eq!(r.json()["photos"][0]["after_treatment"], true);

    let report = h.get(&format!("/api/v1/reports/{id}")).json();
    assert_eq!(report["photos"], json!([]));
    assert_eq!(
        report["after_treatment_photo"],
        r.json()["photos"][0]["url"]
    );

    let second = jpeg(&picture(48, 32, 7));
    let r = upload(
        h,
        Some("agent"),
        id,
        &[photo_part(&second), text_part("after_treatment", "true")],
    );
    error_of(&r, StatusCode::CONFLICT);
}

#[test]
fn the_after_treatment_photo_is_refused_while_the_report_is_open() {
    let h = harness();
    let id = fresh_report(h);
    set_status(h, id, "scheduled");
    let r = upload(
        h,
        Some("agent"),
        id,
        &[
            photo_part(&jpeg(&picture(40, 30, 8))),
            text_part("after_treatment", "true"),
        ],
    );
    let e = error_of(&r, StatusCode::CONFLICT);
    assert!(e["message"].as_str().unwrap().contains("done"), "{e}");
    assert!(photos_of(h, id).is_empty());
}

#[test]
fn an_app_key_may_not_add_the_after_treatment_photo() {
    let h = harness();
    let id = fresh_report(h);
    set_status(h, id, "done");
    let r = upload(
        h,
        Some("app"),
        id,
        &[
            photo_part(&jpeg(&picture(40, 30, 9))),
            text_part("after_treatment", "true"),
        ],
    );
    error_of(&r, StatusCode::FORBIDDEN);
    assert!(photos_of(h, id).is_empty());
}

#[test]
fn the_timeline_shows_a_photo_event_with_the_display_url() {
    let h = harness();
    let id = fresh_report(h);
    let r = upload_one(h, "app", id, &jpeg(&picture(40, 30, 14)));
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let url = r.json()["photos"][0]["url"].clone();
    let history = h.get(&format!("/api/v1/reports/{id}/history")).json();
    let photo_events: Vec<&Value> = history["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "photo")
        .collect();
    assert_eq!(photo_events.len(), 1, "{history}");
    assert_eq!(photo_events[0]["photo_url"], url);
    assert_eq!(photo_events[0]["by"], "Test app");
}

#[test]
fn a_retried_upload_gets_the_stored_photo_back_with_200_and_no_second_event() {
    let h = harness();
    let id = fresh_report(h);
    let input = jpeg(&picture(40, 30, 15));
    let first = upload_one(h, "app", id, &input);
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.text());
    let again = upload_one(h, "app", id, &input);
    assert_eq!(again.status, StatusCode::OK, "{}", again.text());
    assert_eq!(again.json()["photos"], first.json()["photos"]);
    assert_eq!(photos_of(h, id).len(), 1);
    let history = h.get(&format!("/api/v1/reports/{id}/history")).json();
    let photo_events = history["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "photo")
        .count();
    assert_eq!(photo_events, 1);
}

#[test]
fn the_report_shows_the_display_urls_of_its_photos() {
    let h = harness();
    let id = fresh_report(h);
    assert_eq!(
        h.get(&format!("/api/v1/reports/{id}")).json()["photos"],
        json!([])
    );
    let r = upload_one(h, "app", id, &jpeg(&picture(40, 30, 16)));
    let report = h.get(&format!("/api/v1/reports/{id}")).json();
    assert_eq!(report["id"], id, "the report's own fields are still there");
    assert_eq!(report["districts"]["arrondissement"]["code"], "75104");
    assert_eq!(report["photos"], json!([r.json()["photos"][0]["url"]]));
    assert_eq!(report["after_treatment_photo"], Value::Null);
}

#[test]
fn a_served_photo_is_image_jpeg_nosniff_and_cached_as_immutable() {
    let h = harness();
    let id = fresh_report(h);
    let r = upload_one(h, "app", id, &jpeg(&picture(40, 30, 17)));
    let served = h.get(r.json()["photos"][0]["url"].as_str().unwrap());
    assert_eq!(served.status, StatusCode::OK);
    assert_eq!(served.headers[header::CONTENT_TYPE], "image/jpeg");
    assert_eq!(served.headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    assert_eq!(
        served.headers[header::CACHE_CONTROL],
        "public, max-age=31536000, immutable"
    );
}

#[test]
fn any_name_but_a_stored_photos_is_404_json_so_no_path_reaches_other_files() {
    let h = harness();
    let hash = "0".repeat(64);
    for uri in [
        "/photos/../etc/passwd".to_owned(),
        "/photos/..%2F..%2Fetc%2Fpasswd".to_owned(),
        "/photos/..".to_owned(),
        "/photos/civicmap.db".to_owned(),
        format!("/photos/..%2F{hash}-full.jpg"),
        format!("/photos/{hash}-display.png"),
        format!("/photos/{}-full.jpg", "A".repeat(64)),
        // Well-formed, but no report holds it.
        format!("/photos/{hash}-full.jpg"),
    ] {
        let r = h.get(&uri);
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{uri}");
        assert_eq!(r.json()["error"], "not_found", "{uri}");
    }
}

#[test]
fn a_body_that_is_not_multipart_is_415_and_a_multipart_without_photo_is_400() {
    let h = harness();
    let id = fresh_report(h);
    let r = h.send_as(
        Some("app"),
        Request::post(format!("/api/v1/reports/{id}/photos"))
            .header(header::CONTENT_TYPE, "image/jpeg")
            .body(Body::from(jpeg(&picture(8, 8, 0))))
            .unwrap(),
    );
    error_of(&r, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let r = upload(h, Some("app"), id, &[text_part("after_treatment", "false")]);
    assert_eq!(error_of(&r, StatusCode::BAD_REQUEST)["field"], "photo");
}

#[test]
fn photos_of_an_unknown_report_are_404() {
    let h = harness();
    let r = upload_one(h, "app", 999_999_999, &jpeg(&picture(8, 8, 0)));
    error_of(&r, StatusCode::NOT_FOUND);
    error_of(
        &h.get("/api/v1/reports/999999999/photos"),
        StatusCode::NOT_FOUND,
    );
}

#[test]
fn two_uploads_racing_for_the_last_places_store_one_and_refuse_the_other_with_409() {
    let h = harness();
    let id = fresh_report(h);
    let a: Vec<Vec<u8>> = (50..52).map(|s| jpeg(&picture(40, 30, s))).collect();
    let b: Vec<Vec<u8>> = (52..54).map(|s| jpeg(&picture(40, 30, s))).collect();
    // Both may pass the early check; the insert transaction decides.
    let statuses: Vec<StatusCode> = std::thread::scope(|scope| {
        let runs: Vec<_> = [&a, &b]
            .into_iter()
            .map(|photos| {
                scope.spawn(move || {
                    let parts: Vec<Part<'_>> = photos.iter().map(|p| photo_part(p)).collect();
                    upload(h, Some("app"), id, &parts).status
                })
            })
            .collect();
        runs.into_iter().map(|r| r.join().unwrap()).collect()
    });
    let mut sorted = statuses.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        [StatusCode::CREATED, StatusCode::CONFLICT],
        "{statuses:?}"
    );
    assert_eq!(photos_of(h, id).len(), 2);
}

#[test]
fn a_reporters_photo_cannot_also_be_the_after_treatment_photo() {
    let h = harness();
    let id = fresh_report(h);
    let input = jpeg(&picture(40, 30, 55));
    assert_eq!(upload_one(h, "app", id, &input).status, StatusCode::CREATED);
    set_status(h, id, "done");
    let r = upload(
        h,
        Some("agent"),
        id,
        &[photo_part(&input), text_part("after_treatment", "true")],
    );
    error_of(&r, StatusCode::CONFLICT);
    assert_eq!(photos_of(h, id).len(), 1);
}

#[test]
fn a_file_in_the_photo_directory_that_no_report_holds_is_not_served() {
    let h = harness();
    let orphan = sanitise(&jpeg(&picture(24, 24, 56)), &Limits::default()).unwrap();
    let name = orphan.file_name(Variant::Display);
    std::fs::create_dir_all(photos_dir(h)).unwrap();
    std::fs::write(photos_dir(h).join(&name), &orphan.display.bytes).unwrap();
    let r = h.get(&format!("/photos/{name}"));
    assert_eq!(error_of(&r, StatusCode::NOT_FOUND)["error"], "not_found");
}

fn row(report_id: i64, seed: u8) -> PhotoRow {
    PhotoRow {
        id: 0,
        report_id,
        hash: format!("{seed:02x}").repeat(32),
        role: "report".into(),
        width: 40,
        height: 30,
        full_bytes: 1000,
        display_bytes: 500,
        uploaded_by: "Test app".into(),
        created_at_ms: 0,
    }
}

fn batch(report_id: i64, role: &str, max: i64, rows: Vec<PhotoRow>) -> PhotoBatch {
    PhotoBatch {
        report_id,
        role: role.into(),
        max,
        required_status: (role == "after").then(|| "done".into()),
        rows: rows
            .into_iter()
            .map(|mut r| {
                r.role = role.into();
                r
            })
            .collect(),
    }
}

#[test]
fn the_store_checks_the_report_its_status_and_the_count_inside_the_insert_transaction() {
    let h = harness();
    let store = h.app.store();
    let add = |b: PhotoBatch| h.rt.block_on(store.add_photos(b)).unwrap();
    let id = fresh_report(h);

    assert_eq!(
        add(batch(999_999_999, "report", 3, vec![row(1, 1)])),
        PhotosAdded::NotFound
    );
    // A repeat inside the batch counts once and comes back as not new.
    let PhotosAdded::Done(added) = add(batch(
        id,
        "report",
        3,
        vec![row(id, 1), row(id, 2), row(id, 1)],
    )) else {
        panic!("refused");
    };
    let news: Vec<bool> = added.iter().map(|(_, new)| *new).collect();
    assert_eq!(news, [true, true, false]);
    assert_eq!(added[0].0, added[2].0);
    assert_eq!(
        add(batch(id, "report", 3, vec![row(id, 3), row(id, 4)])),
        PhotosAdded::Full { stored: 2 }
    );
    assert_eq!(
        add(batch(id, "after", 1, vec![row(id, 5)])),
        PhotosAdded::WrongStatus {
            status: "new".into()
        }
    );
    set_status(h, id, "done");
    assert!(matches!(
        add(batch(id, "after", 1, vec![row(id, 1)])),
        PhotosAdded::RoleTaken { .. }
    ));
    assert!(matches!(
        add(batch(id, "after", 1, vec![row(id, 5)])),
        PhotosAdded::Done(_)
    ));
    assert_eq!(
        add(batch(id, "after", 1, vec![row(id, 6)])),
        PhotosAdded::Full { stored: 1 }
    );
    assert_eq!(h.rt.block_on(store.photos_of(id)).unwrap().len(), 3);
}
