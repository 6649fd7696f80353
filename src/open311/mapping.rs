//! From civicmap's domain to Open311 and back: DansMaRue states, the
//! category taxonomy as services, reports as service requests, and the
//! answers a client gives to a service's attributes.

use std::collections::BTreeMap;

use time::OffsetDateTime;

use super::parse::{AttributeAnswer, Open311Error, parse_w3c_datetime};
use super::response::{
    Attribute, Datatype, ExtendedAttributes, ListValue, RequestStatus, RequestUpdate, Service,
    ServiceDefinition, ServiceRequest, ServiceType, Services, UpdateStatus,
};
use crate::model::{Category, Kind, Report, ReportId, Status, Taxonomy};

/// Code of the attribute that carries a report's subcategory.
pub const ATTR_SUBCATEGORY: &str = "subcategory";
/// Code of the attribute that says whether a report is an anomaly or a
/// positive contribution (`anomaly` when absent).
pub const ATTR_KIND: &str = "kind";
/// The group of a category that no [`SERVICE_GROUPS`] entry lists.
pub const OTHER_GROUP: &str = "Autres";

/// Open311 `open` for the states where the city still has something to do
/// ([`Status::is_open`]), `closed` for done, rejected and archived.
#[must_use]
pub fn request_status(status: Status) -> RequestStatus {
    if status.is_open() {
        RequestStatus::Open
    } else {
        RequestStatus::Closed
    }
}

/// The `status_notes` shown for a DansMaRue state, in the city's words. The
/// machine name of the state travels in
/// [`ExtendedAttributes::detailed_status`].
#[must_use]
pub fn status_notes(status: Status) -> &'static str {
    match status {
        Status::New => {
            "Nouveau signalement, en attente de prise en compte par les services de la Ville."
        }
        Status::ToProcess => "Signalement pris en compte, à traiter par le service compétent.",
        Status::Scheduled => "Intervention programmée par le service compétent.",
        Status::Transferred => {
            "Signalement transféré à l'organisme compétent (concessionnaire, bailleur, autre administration)."
        }
        Status::UnderWatch => "Situation placée sous surveillance par les services de la Ville.",
        Status::Done => "Signalement traité par les services de la Ville.",
        Status::Rejected => {
            "Signalement rejeté : hors du champ d'intervention de la Ville, déjà signalé ou non constaté."
        }
        Status::Archived => "Signalement clôturé et archivé.",
    }
}

/// The mySociety update state that says the most about a DansMaRue state,
/// keeping open and closed as [`Status::is_open`] says (so `transferred`,
/// still open here, is `in_progress`, not `internal_referral`).
#[must_use]
pub fn update_status(status: Status) -> UpdateStatus {
    match status {
        Status::New => UpdateStatus::Open,
        Status::ToProcess | Status::UnderWatch => UpdateStatus::Investigating,
        Status::Scheduled => UpdateStatus::ActionScheduled,
        Status::Transferred => UpdateStatus::InProgress,
        Status::Done => UpdateStatus::Fixed,
        Status::Rejected => UpdateStatus::NoFurtherAction,
        Status::Archived => UpdateStatus::Closed,
    }
}

/// The DansMaRue state a posted update (`POST servicerequestupdates`)
/// proposes for a request now in `current`. A proposal: whether the
/// transition is allowed is the lifecycle's decision.
///
/// The current state is kept when the update says nothing more than it
/// does (its own [`update_status`], or a bare `open`/`closed` of the same
/// side). Otherwise: `open`, `reopen`, `investigating` → `to_process`;
/// `for_triage` → `new`; `in_progress`, `action_scheduled` → `scheduled`;
/// `internal_referral`, `not_councils_responsibility` → `transferred` (the
/// city hands it on, as DansMaRue's "transféré à un tiers"); `fixed`,
/// `closed` → `done`; `duplicate`, `no_further_action` → `rejected`.
#[must_use]
pub fn status_for_update(current: Status, update: UpdateStatus) -> Status {
    let same_side_generic = matches!(update, UpdateStatus::Open | UpdateStatus::Closed)
        && update.is_open() == current.is_open();
    if update_status(current) == update || same_side_generic {
        return current;
    }
    match update {
        UpdateStatus::Open | UpdateStatus::Reopen | UpdateStatus::Investigating => {
            Status::ToProcess
        }
        UpdateStatus::ForTriage => Status::New,
        UpdateStatus::InProgress | UpdateStatus::ActionScheduled => Status::Scheduled,
        UpdateStatus::InternalReferral | UpdateStatus::NotCouncilsResponsibility => {
            Status::Transferred
        }
        UpdateStatus::Fixed | UpdateStatus::Closed => Status::Done,
        UpdateStatus::Duplicate | UpdateStatus::NoFurtherAction => Status::Rejected,
    }
}

/// A group of DansMaRue categories shown together by Open311 clients
/// (`group` of a service).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceGroup {
    pub label: &'static str,
    /// Category codes of the taxonomy.
    pub categories: &'static [&'static str],
}

/// The ten DansMaRue categories in five groups.
pub const SERVICE_GROUPS: &[ServiceGroup] = &[
    ServiceGroup {
        label: "Propreté",
        categories: &[
            "proprete",
            "objets_abandonnes",
            "graffitis_tags_affiches_et_autocollants",
        ],
    },
    ServiceGroup {
        label: "Voirie et équipements",
        categories: &[
            "voirie_et_espace_public",
            "mobiliers_urbains",
            "eclairage_electricite",
            "eau",
        ],
    },
    ServiceGroup {
        label: "Déplacements et stationnement",
        categories: &["autos_motos_velos_trottinettes"],
    },
    ServiceGroup {
        label: "Nature en ville",
        categories: &["arbres_vegetaux_et_animaux"],
    },
    ServiceGroup {
        label: "Commerces et activités",
        categories: &["activites_commerciales_et_professionnelles"],
    },
];

/// The group label of a category code ([`OTHER_GROUP`] if none lists it).
#[must_use]
pub fn service_group(category_code: &str) -> &'static str {
    SERVICE_GROUPS
        .iter()
        .find(|g| g.categories.contains(&category_code))
        .map_or(OTHER_GROUP, |g| g.label)
}

/// Whether a subcategory is reserved to city agents: DansMaRue marks those
/// by a leading bracket (`[] …`, `[Pour envoi à Haropa] …`).
fn is_agent_only(label: &str) -> bool {
    label.starts_with('[')
}

/// Keywords of a category: the distinct heads (text before ` : `) of its
/// public subcategory labels, commas removed since keywords are
/// comma-separated.
fn keywords(category: &Category) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in &category.subcategories {
        if is_agent_only(&s.label) {
            continue;
        }
        let head = s.label.split(" : ").next().unwrap_or(&s.label);
        let kw = head
            .replace(',', " ")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        if !kw.is_empty() && !out.iter().any(|k| k.to_lowercase() == kw.to_lowercase()) {
            out.push(kw);
        }
    }
    out
}

/// One Open311 service per category: code and name from the taxonomy,
/// `realtime` (a POST answers with the id once stored), `metadata` true
/// (every service has the `kind` attribute, most a `subcategory`).
#[must_use]
pub fn service(category: &Category) -> Service {
    Service {
        service_code: category.code.clone(),
        service_name: category.label.clone(),
        description: Some(format!(
            "Signalements « {} » ({} sous-catégories, attribut « {ATTR_SUBCATEGORY} »).",
            category.label,
            category.subcategories.len()
        )),
        metadata: true,
        service_type: ServiceType::Realtime,
        keywords: keywords(category),
        group: Some(service_group(&category.code).to_owned()),
    }
}

/// The service list, in taxonomy order (pass `taxonomy.categories()`).
#[must_use]
pub fn services(categories: &[Category]) -> Services {
    Services(categories.iter().map(service).collect())
}

/// A category's attributes: `subcategory` (a `singlevaluelist` of every
/// subcategory, agent-only ones included since the API accepts them;
/// optional) when it has any, then `kind` (`anomaly` or `contribution`;
/// optional, `anomaly` by default).
#[must_use]
pub fn service_definition(category: &Category) -> ServiceDefinition {
    let mut attributes = Vec::with_capacity(2);
    if !category.subcategories.is_empty() {
        attributes.push(Attribute {
            variable: true,
            code: ATTR_SUBCATEGORY.to_owned(),
            datatype: Datatype::SingleValueList,
            required: false,
            datatype_description: Some("La clé d'une des valeurs proposées.".to_owned()),
            order: 0,
            description: Some("Sous-catégorie du signalement.".to_owned()),
            values: category
                .subcategories
                .iter()
                .map(|s| ListValue {
                    key: s.code.clone(),
                    name: s.label.clone(),
                })
                .collect(),
        });
    }
    attributes.push(Attribute {
        variable: true,
        code: ATTR_KIND.to_owned(),
        datatype: Datatype::SingleValueList,
        required: false,
        datatype_description: Some("anomaly (par défaut) ou contribution.".to_owned()),
        order: 0,
        description: Some(
            "Nature du signalement : une anomalie à corriger ou une contribution positive."
                .to_owned(),
        ),
        values: vec![
            ListValue {
                key: Kind::Anomaly.as_str().to_owned(),
                name: "Anomalie".to_owned(),
            },
            ListValue {
                key: Kind::Contribution.as_str().to_owned(),
                name: "Contribution positive".to_owned(),
            },
        ],
    });
    for (i, a) in attributes.iter_mut().enumerate() {
        a.order = u32::try_from(i + 1).unwrap_or(u32::MAX);
    }
    ServiceDefinition {
        service_code: category.code.clone(),
        attributes,
    }
}

/// Checks a request's attribute answers against the service definition:
/// every answer names a variable attribute of the service, list answers
/// are among its keys (one for a `singlevaluelist`), numbers are finite,
/// datetimes W3C, and every required attribute is answered.
///
/// # Errors
/// [`Open311Error`] naming `attribute[code]`.
pub fn check_attributes(
    definition: &ServiceDefinition,
    answers: &BTreeMap<String, AttributeAnswer>,
) -> Result<(), Open311Error> {
    for (code, answer) in answers {
        let field = format!("attribute[{code}]");
        let Some(attr) = definition.attribute(code).filter(|a| a.variable) else {
            return Err(Open311Error::invalid(
                field,
                code,
                format!("not an attribute of service {}", definition.service_code),
            ));
        };
        let single = |answer: &AttributeAnswer| match answer {
            AttributeAnswer::One(v) => Ok(v.clone()),
            AttributeAnswer::Many(vs) => Err(Open311Error::invalid(
                field.clone(),
                &vs.join(","),
                "takes a single value",
            )),
        };
        match attr.datatype {
            Datatype::SingleValueList | Datatype::MultiValueList => {
                if attr.datatype == Datatype::SingleValueList {
                    single(answer)?;
                }
                for v in answer.values() {
                    if !attr.values.iter().any(|lv| &lv.key == v) {
                        return Err(Open311Error::invalid(
                            field,
                            v,
                            "not one of the attribute's keys",
                        ));
                    }
                }
            }
            Datatype::Number => {
                let v = single(answer)?;
                if !v.parse::<f64>().is_ok_and(f64::is_finite) {
                    return Err(Open311Error::invalid(field, &v, "not a finite number"));
                }
            }
            Datatype::Datetime => {
                let v = single(answer)?;
                if parse_w3c_datetime(&v).is_none() {
                    return Err(Open311Error::invalid(
                        field,
                        &v,
                        "expected a W3C date-time with a time zone",
                    ));
                }
            }
            Datatype::String | Datatype::Text => {
                single(answer)?;
            }
        }
    }
    if let Some(missing) = definition
        .attributes
        .iter()
        .find(|a| a.required && a.variable && !answers.contains_key(&a.code))
    {
        return Err(Open311Error::Missing {
            field: format!("attribute[{}]", missing.code),
        });
    }
    Ok(())
}

/// The subcategory code a client chose, if any (after
/// [`check_attributes`]).
#[must_use]
pub fn requested_subcategory(answers: &BTreeMap<String, AttributeAnswer>) -> Option<&str> {
    match answers.get(ATTR_SUBCATEGORY)? {
        AttributeAnswer::One(v) => Some(v),
        AttributeAnswer::Many(_) => None,
    }
}

/// The kind a client chose: `anomaly` unless it answered `contribution`.
#[must_use]
pub fn requested_kind(answers: &BTreeMap<String, AttributeAnswer>) -> Kind {
    match answers.get(ATTR_KIND) {
        Some(AttributeAnswer::One(v)) => v.parse().unwrap_or(Kind::Anomaly),
        _ => Kind::Anomaly,
    }
}

/// The standard fields of a report as a service request: id, state and its
/// notes, service, description (if not empty), `requested_datetime` (the
/// report's creation), address and position. Left for the caller:
/// `updated_datetime`, `expected_datetime`, `agency_responsible`,
/// `zipcode`, `media_url`, and `extensions` (start from
/// [`extended_attributes`]). Never the reporter's contact.
///
/// # Panics
/// If the report's category does not come from `taxonomy`.
#[must_use]
pub fn service_request(report: &Report, taxonomy: &Taxonomy) -> ServiceRequest {
    let category = taxonomy.category(report.category);
    ServiceRequest {
        service_request_id: report.id.to_string(),
        status: request_status(report.status),
        status_notes: Some(status_notes(report.status).to_owned()),
        service_name: Some(category.label.clone()),
        service_code: category.code.clone(),
        description: Some(report.description.clone()).filter(|d| !d.is_empty()),
        agency_responsible: None,
        service_notice: None,
        requested_datetime: report.created_at,
        updated_datetime: None,
        expected_datetime: None,
        address: report.address.clone(),
        address_id: None,
        zipcode: None,
        location: Some(report.location),
        media_url: None,
        extensions: None,
    }
}

/// The extended attributes known from the report alone (state and kind);
/// districts, `duplicate_of` and `supports` are for the caller to fill.
#[must_use]
pub fn extended_attributes(report: &Report) -> ExtendedAttributes {
    ExtendedAttributes {
        detailed_status: report.status,
        kind: report.kind,
        arrondissement: None,
        working_class_district: None,
        duplicate_of: None,
        supports: 0,
    }
}

/// A change of state as a mySociety request update: the update state from
/// [`update_status`] and the DansMaRue state as `external_status_code`.
#[must_use]
pub fn request_update(
    update_id: String,
    report: ReportId,
    status: Status,
    at: OffsetDateTime,
    description: String,
) -> RequestUpdate {
    RequestUpdate {
        update_id,
        service_request_id: report.to_string(),
        status: update_status(status),
        updated_datetime: at,
        description,
        media_url: None,
        external_status_code: Some(status.as_str().to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Channel, Districts, LonLat};
    use time::macros::datetime;

    const SHIPPED: &str = include_str!("../../data/dansmarue_taxonomy.csv");

    fn taxonomy() -> Taxonomy {
        Taxonomy::from_csv(SHIPPED).unwrap()
    }

    fn report(status: Status) -> Report {
        let t = taxonomy();
        let category = t.category_id("proprete").unwrap();
        Report {
            id: 42,
            client_id: Some("client-secret-id".into()),
            kind: Kind::Anomaly,
            category,
            subcategory: Some(0),
            description: "Dépôt sauvage".into(),
            location: LonLat::new(2.3522, 48.8566).unwrap(),
            address: Some("1 place de l'Hôtel de Ville".into()),
            channel: Channel::Web,
            created_at: datetime!(2024-05-01 08:00 UTC),
            status,
            campaign: None,
            contact: Some(crate::model::validate_contact("jeanne@example.org").unwrap()),
            h3: 0,
            districts: Districts::default(),
        }
    }

    #[test]
    fn a_closed_report_is_closed_with_its_state_in_the_notes() {
        for s in [Status::Done, Status::Rejected, Status::Archived] {
            let r = service_request(&report(s), &taxonomy());
            assert_eq!(r.status, RequestStatus::Closed, "{s}");
            assert_eq!(r.status_notes.as_deref(), Some(status_notes(s)));
            assert_eq!(extended_attributes(&report(s)).detailed_status, s);
        }
        for s in [
            Status::New,
            Status::ToProcess,
            Status::Scheduled,
            Status::Transferred,
            Status::UnderWatch,
        ] {
            assert_eq!(request_status(s), RequestStatus::Open, "{s}");
        }
    }

    #[test]
    fn every_state_has_its_own_note() {
        let notes: std::collections::HashSet<_> =
            Status::ALL.iter().map(|s| status_notes(*s)).collect();
        assert_eq!(notes.len(), Status::ALL.len());
    }

    #[test]
    fn update_states_keep_open_and_closed_as_the_domain_says() {
        for s in Status::ALL {
            assert_eq!(update_status(*s).is_open(), s.is_open(), "{s}");
        }
    }

    #[test]
    fn an_update_repeating_the_current_state_changes_nothing() {
        for s in Status::ALL {
            assert_eq!(status_for_update(*s, update_status(*s)), *s, "{s}");
        }
        assert_eq!(
            status_for_update(Status::Scheduled, UpdateStatus::Open),
            Status::Scheduled
        );
        assert_eq!(
            status_for_update(Status::Done, UpdateStatus::Open),
            Status::ToProcess
        );
        assert_eq!(
            status_for_update(Status::New, UpdateStatus::Fixed),
            Status::Done
        );
        assert_eq!(
            status_for_update(Status::New, UpdateStatus::NotCouncilsResponsibility),
            Status::Transferred
        );
        assert_eq!(
            status_for_update(Status::ToProcess, UpdateStatus::Duplicate),
            Status::Rejected
        );
    }

    #[test]
    fn a_report_becomes_a_request_without_its_private_fields() {
        let r = service_request(&report(Status::Scheduled), &taxonomy());
        assert_eq!(r.service_request_id, "42");
        assert_eq!(r.service_code, "proprete");
        assert_eq!(r.service_name.as_deref(), Some("Propreté"));
        assert_eq!(r.description.as_deref(), Some("Dépôt sauvage"));
        assert_eq!(r.requested_datetime, datetime!(2024-05-01 08:00 UTC));
        let shown = format!("{r:?}");
        assert!(!shown.contains("jeanne") && !shown.contains("client-secret-id"));
        let mut empty = report(Status::New);
        empty.description.clear();
        assert_eq!(service_request(&empty, &taxonomy()).description, None);
    }

    #[test]
    fn the_ten_categories_are_ten_services_in_five_groups() {
        let t = taxonomy();
        let Services(list) = services(t.categories());
        assert_eq!(list.len(), 10);
        for s in &list {
            assert_ne!(s.group.as_deref(), Some(OTHER_GROUP), "{}", s.service_code);
            assert!(s.metadata && s.service_type == ServiceType::Realtime);
            assert!(!s.keywords.is_empty(), "{}", s.service_code);
            for k in &s.keywords {
                assert!(!k.contains(',') && !k.starts_with('['), "{k}");
            }
        }
        let groups: std::collections::HashSet<_> =
            list.iter().filter_map(|s| s.group.clone()).collect();
        assert_eq!(groups.len(), SERVICE_GROUPS.len());
        let listed: usize = SERVICE_GROUPS.iter().map(|g| g.categories.len()).sum();
        assert_eq!(listed, 10);
        assert_eq!(service_group("fireworks"), OTHER_GROUP);
    }

    #[test]
    fn keywords_are_the_distinct_public_subcategory_heads() {
        let t = taxonomy();
        let c = t.category(
            t.category_id("activites_commerciales_et_professionnelles")
                .unwrap(),
        );
        assert_eq!(
            keywords(c),
            [
                "Nuisances lumineuses",
                "Prospectus utilisant frauduleusement le logo et / ou les couleurs de la Ville de Paris",
                "Étalages et terrasses à usage commercial"
            ]
        );
    }

    #[test]
    fn a_service_definition_lists_every_subcategory_as_an_optional_single_value() {
        let t = taxonomy();
        let c = t.category(t.category_id("objets_abandonnes").unwrap());
        let d = service_definition(c);
        assert_eq!(d.service_code, "objets_abandonnes");
        let sub = d.attribute(ATTR_SUBCATEGORY).unwrap();
        assert_eq!(sub.datatype, Datatype::SingleValueList);
        assert!(!sub.required && sub.variable);
        assert_eq!(sub.order, 1);
        assert_eq!(sub.values.len(), c.subcategories.len());
        assert_eq!(sub.values[0].key, c.subcategories[0].code);
        assert_eq!(sub.values[0].name, c.subcategories[0].label);
        assert_eq!(d.attribute(ATTR_KIND).unwrap().order, 2);
    }

    fn answers(pairs: &[(&str, AttributeAnswer)]) -> BTreeMap<String, AttributeAnswer> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect()
    }

    #[test]
    fn attribute_answers_must_be_keys_of_the_service_s_lists() {
        let t = taxonomy();
        let c = t.category(t.category_id("objets_abandonnes").unwrap());
        let d = service_definition(c);
        let one = |v: &str| AttributeAnswer::One(v.to_owned());
        let good = answers(&[
            (ATTR_SUBCATEGORY, one(&c.subcategories[1].code)),
            (ATTR_KIND, one("contribution")),
        ]);
        assert_eq!(check_attributes(&d, &good), Ok(()));
        assert_eq!(
            requested_subcategory(&good),
            Some(&*c.subcategories[1].code)
        );
        assert_eq!(requested_kind(&good), Kind::Contribution);
        assert_eq!(requested_kind(&BTreeMap::new()), Kind::Anomaly);
        assert_eq!(check_attributes(&d, &BTreeMap::new()), Ok(()));

        for (bad, field) in [
            (
                answers(&[(ATTR_SUBCATEGORY, one("megots"))]),
                "attribute[subcategory]",
            ),
            (answers(&[("colour", one("red"))]), "attribute[colour]"),
            (
                answers(&[(
                    ATTR_KIND,
                    AttributeAnswer::Many(vec!["anomaly".into(), "contribution".into()]),
                )]),
                "attribute[kind]",
            ),
        ] {
            let e = check_attributes(&d, &bad).unwrap_err();
            assert_eq!(e.field(), Some(field));
        }
    }

    #[test]
    fn required_numbers_and_datetimes_are_checked() {
        let d = ServiceDefinition {
            service_code: "x".into(),
            attributes: vec![
                Attribute {
                    variable: true,
                    code: "count".into(),
                    datatype: Datatype::Number,
                    required: true,
                    datatype_description: None,
                    order: 1,
                    description: None,
                    values: vec![],
                },
                Attribute {
                    variable: true,
                    code: "seen".into(),
                    datatype: Datatype::Datetime,
                    required: false,
                    datatype_description: None,
                    order: 2,
                    description: None,
                    values: vec![],
                },
            ],
        };
        let one = |v: &str| AttributeAnswer::One(v.to_owned());
        assert!(check_attributes(&d, &answers(&[("count", one("3"))])).is_ok());
        for (bad, field) in [
            (answers(&[]), "attribute[count]"),
            (answers(&[("count", one("NaN"))]), "attribute[count]"),
            (
                answers(&[("count", one("1")), ("seen", one("hier"))]),
                "attribute[seen]",
            ),
        ] {
            assert_eq!(check_attributes(&d, &bad).unwrap_err().field(), Some(field));
        }
    }

    #[test]
    fn a_state_change_becomes_an_update_carrying_the_dansmarue_state() {
        let u = request_update(
            "7".into(),
            42,
            Status::Transferred,
            datetime!(2024-05-02 09:00 UTC),
            "Transmis à la RATP".into(),
        );
        assert_eq!(u.service_request_id, "42");
        assert_eq!(u.status, UpdateStatus::InProgress);
        assert_eq!(u.external_status_code.as_deref(), Some("transferred"));
    }
}
