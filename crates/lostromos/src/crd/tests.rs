//! One test per JSON Schema construct: the converted form, or the warning.

use serde_json::{json, Value};

use super::check::{admits, validate};
use super::convert::convert;
use super::*;

/// The spec schema of `schema`, and the warnings as text.
fn conv(schema: Value) -> (Value, Vec<String>) {
    let (spec, warnings) = convert(&schema, &[], None);
    (
        Value::Object(spec),
        warnings.iter().map(ToString::to_string).collect(),
    )
}

fn warned(warnings: &[String], needle: &str) -> bool {
    warnings.iter().any(|w| w.contains(needle))
}

fn accepts(spec: &Value, v: Value) -> bool {
    validate(spec.as_object().unwrap(), &v).is_none()
}

#[test]
fn ref_to_definitions_and_defs_is_inlined() {
    let (s, w) = conv(json!({
        "type": "object",
        "definitions": {"port": {"type": "integer", "minimum": 1, "maximum": 65535}},
        "$defs": {"name": {"type": "string", "description": "a name"}},
        "properties": {
            "http": {"$ref": "#/definitions/port", "description": "the HTTP port"},
            "name": {"$ref": "#/$defs/name"},
        },
    }));
    assert!(w.is_empty(), "{w:?}");
    assert_eq!(
        s["properties"]["http"],
        json!({"type": "integer", "minimum": 1, "maximum": 65535, "description": "the HTTP port"})
    );
    assert_eq!(
        s["properties"]["name"],
        json!({"type": "string", "description": "a name"})
    );
    assert!(!s.to_string().contains("$ref"));
}

#[test]
fn recursive_ref_is_cut_open() {
    let (s, w) = conv(json!({
        "type": "object",
        "properties": {"route": {"$ref": "#/definitions/route"}},
        "definitions": {"route": {
            "type": "object",
            "properties": {
                "receiver": {"type": "string"},
                "routes": {"type": "array", "items": {"$ref": "#/definitions/route"}},
            },
            "additionalProperties": false,
        }},
    }));
    let route = &s["properties"]["route"];
    assert_eq!(route["properties"]["receiver"]["type"], "string");
    // one level of nesting is unfolded and checked, the next is cut
    let child = &route["properties"]["routes"]["items"];
    assert_eq!(child["properties"]["receiver"]["type"], "string");
    assert_eq!(
        child["properties"]["routes"]["items"],
        json!({"x-kubernetes-preserve-unknown-fields": true})
    );
    assert!(
        warned(
            &w,
            "spec.route.routes[].routes[]: $ref \"#/definitions/route\" is recursive"
        ),
        "{w:?}"
    );
    // a reference to the root recurses too
    let (s, w) = conv(json!({"type": "object", "properties": {"child": {"$ref": "#"}}}));
    assert_eq!(
        s["properties"]["child"]["x-kubernetes-preserve-unknown-fields"],
        true
    );
    assert!(warned(&w, "recursive"));
}

#[test]
fn external_and_dangling_refs_open_the_field() {
    let (s, w) = conv(json!({"type": "object", "properties": {
        "k8s": {"$ref": "https://kubernetes-schemas.example/v1.29/affinity.json"},
        "gone": {"$ref": "#/definitions/nothing"},
    }}));
    assert_eq!(
        s["properties"]["k8s"]["x-kubernetes-preserve-unknown-fields"],
        true
    );
    assert_eq!(
        s["properties"]["gone"]["x-kubernetes-preserve-unknown-fields"],
        true
    );
    assert!(warned(
        &w,
        "spec.k8s: $ref \"https://kubernetes-schemas.example/v1.29/affinity.json\" points outside"
    ));
    assert!(warned(
        &w,
        "spec.gone: $ref \"#/definitions/nothing\" points to nothing"
    ));
}

#[test]
fn all_of_is_merged_into_its_node() {
    let (s, w) = conv(json!({"type": "object", "properties": {"image": {"allOf": [
        {"type": "object", "properties": {"repository": {"type": "string"}}, "required": ["repository"]},
        {"properties": {"tag": {"type": "string", "minLength": 1}, "repository": {"maxLength": 200}}},
    ]}}}));
    assert!(w.is_empty(), "{w:?}");
    let image = &s["properties"]["image"];
    assert_eq!(image["type"], "object");
    assert_eq!(image["required"], json!(["repository"]));
    assert_eq!(
        image["properties"]["repository"],
        json!({"type": "string", "maxLength": 200})
    );
    assert_eq!(
        image["properties"]["tag"],
        json!({"type": "string", "minLength": 1})
    );
    assert!(image.get("allOf").is_none());
}

#[test]
fn one_of_of_required_fields_is_kept_as_value_validation() {
    let (s, w) = conv(json!({"type": "object", "properties": {"auth": {
        "type": "object",
        "properties": {"password": {"type": "string"}, "existingSecret": {"type": "string"}},
        "additionalProperties": false,
        "oneOf": [{"required": ["password"]}, {"required": ["existingSecret"]}],
    }}}));
    assert!(w.is_empty(), "{w:?}");
    let auth = &s["properties"]["auth"];
    assert_eq!(
        auth["oneOf"],
        json!([{"required": ["password"]}, {"required": ["existingSecret"]}])
    );
    assert!(accepts(auth, json!({"password": "x"})));
    assert!(!accepts(
        auth,
        json!({"password": "x", "existingSecret": "y"})
    ));
}

#[test]
fn one_of_objects_puts_their_fields_outside_and_checks_inside() {
    let (s, w) = conv(
        json!({"type": "object", "properties": {"receiver": {"oneOf": [
            {"type": "object", "properties": {"kind": {"const": "email"}, "to": {"type": "string", "format": "email"}},
             "required": ["kind", "to"], "additionalProperties": false},
            {"type": "object", "properties": {"kind": {"const": "slack"}, "channel": {"type": "string", "pattern": "^#"}},
             "required": ["kind", "channel"], "additionalProperties": false},
        ]}}}),
    );
    let r = &s["properties"]["receiver"];
    assert_eq!(r["type"], "object");
    // every field named inside is specified outside, with its type
    assert_eq!(r["properties"]["to"]["type"], "string");
    assert_eq!(r["properties"]["channel"]["type"], "string");
    assert_eq!(r["properties"]["kind"]["type"], "string");
    // additionalProperties is not allowed inside: oneOf becomes anyOf, said so
    let branches = r["anyOf"].as_array().unwrap();
    assert_eq!(branches.len(), 2);
    assert_eq!(branches[0]["required"], json!(["kind", "to"]));
    assert_eq!(
        branches[0]["properties"]["kind"],
        json!({"enum": ["email"]})
    );
    assert_eq!(
        branches[1]["properties"]["channel"],
        json!({"pattern": "^#"})
    );
    assert!(branches
        .iter()
        .all(|b| b.get("type").is_none() && b.get("additionalProperties").is_none()));
    assert!(
        warned(&w, "spec.receiver: oneOf: checked as anyOf"),
        "{w:?}"
    );
    assert!(accepts(r, json!({"kind": "email", "to": "a@b.c"})));
    assert!(!accepts(r, json!({"kind": "slack", "to": "a@b.c"})));
}

#[test]
fn any_of_integer_or_string_is_int_or_string() {
    let (s, w) = conv(json!({"type": "object", "properties": {"port": {"anyOf": [
        {"type": "integer", "minimum": 1},
        {"type": "string", "pattern": "^[a-z]+$"},
    ]}}}));
    assert!(w.is_empty(), "{w:?}");
    assert_eq!(
        s["properties"]["port"],
        json!({
            "x-kubernetes-int-or-string": true,
            "anyOf": [{"type": "integer"}, {"type": "string"}],
            "minimum": 1,
            "pattern": "^[a-z]+$",
        })
    );
}

#[test]
fn any_of_different_types_is_open() {
    let (s, w) = conv(json!({"type": "object", "properties": {"v": {"anyOf": [
        {"type": "boolean"}, {"type": "object", "properties": {"a": {"type": "string"}}},
    ]}}}));
    assert_eq!(
        s["properties"]["v"]["x-kubernetes-preserve-unknown-fields"],
        true
    );
    assert!(s["properties"]["v"].get("type").is_none());
    assert!(warned(&w, "spec.v: may be any of boolean, object"), "{w:?}");
}

#[test]
fn not_is_kept_when_the_api_server_can_check_it() {
    let (s, w) = conv(json!({"type": "object", "properties": {
        "mode": {"type": "string", "not": {"enum": ["legacy"]}},
    }}));
    assert!(w.is_empty(), "{w:?}");
    assert_eq!(s["properties"]["mode"]["not"], json!({"enum": ["legacy"]}));
}

#[test]
fn pattern_properties_become_additional_properties() {
    let (s, w) = conv(json!({"type": "object", "properties": {"labels": {
        "type": "object",
        "patternProperties": {"^[a-z./-]+$": {"type": "string", "maxLength": 63}},
        "additionalProperties": false,
    }}}));
    assert_eq!(
        s["properties"]["labels"],
        json!({"type": "object", "additionalProperties": {"type": "string", "maxLength": 63}})
    );
    assert!(
        warned(&w, "spec.labels: patternProperties: the key patterns"),
        "{w:?}"
    );
}

#[test]
fn enum_is_kept() {
    let (s, w) = conv(json!({"type": "object", "properties": {
        "pullPolicy": {"type": "string", "enum": ["Always", "IfNotPresent", "Never"]},
    }}));
    assert!(w.is_empty());
    assert_eq!(
        s["properties"]["pullPolicy"],
        json!({"type": "string", "enum": ["Always", "IfNotPresent", "Never"]})
    );
}

#[test]
fn const_becomes_a_single_value_enum_and_gives_the_type() {
    let (s, _) = conv(json!({"type": "object", "properties": {"apiVersion": {"const": "v2"}}}));
    assert_eq!(
        s["properties"]["apiVersion"],
        json!({"type": "string", "enum": ["v2"]})
    );
}

#[test]
fn integer_ranges_both_drafts() {
    let (s, w) = conv(json!({"type": "object", "properties": {
        "replicas": {"type": "integer", "minimum": 0, "maximum": 10, "multipleOf": 2},
        // draft-06 and later: the exclusive bound is the number itself
        "ratio": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
        // draft-04 / OpenAPI: a flag on minimum
        "weight": {"type": "integer", "minimum": 0, "exclusiveMinimum": true},
    }}));
    assert!(w.is_empty(), "{w:?}");
    let p = &s["properties"];
    assert_eq!(
        p["replicas"],
        json!({"type": "integer", "minimum": 0, "maximum": 10, "multipleOf": 2})
    );
    assert_eq!(
        p["ratio"],
        json!({"type": "number", "minimum": 0, "exclusiveMinimum": true, "maximum": 1, "exclusiveMaximum": true})
    );
    assert_eq!(
        p["weight"],
        json!({"type": "integer", "minimum": 0, "exclusiveMinimum": true})
    );
    assert!(!accepts(&p["ratio"], json!(0)));
}

#[test]
fn formats_kept_or_dropped_with_a_warning() {
    let (s, w) = conv(json!({"type": "object", "properties": {
        "when": {"type": "string", "format": "date-time"},
        "mail": {"type": "string", "format": "email"},
        "ttl": {"type": "string", "format": "duration"},
        "ref": {"type": "string", "format": "uri-reference"},
    }}));
    let p = &s["properties"];
    assert_eq!(p["when"]["format"], "date-time");
    assert_eq!(p["mail"]["format"], "email");
    assert!(p["ttl"].get("format").is_none());
    assert!(p["ref"].get("format").is_none());
    assert!(warned(&w, "spec.ttl: format \"duration\""), "{w:?}");
    assert!(warned(&w, "spec.ref: format \"uri-reference\""), "{w:?}");
}

#[test]
fn additional_properties_true_false_and_schema() {
    let (s, w) = conv(json!({"type": "object", "properties": {
        "open": {"type": "object", "additionalProperties": true},
        "closedEmpty": {"type": "object", "additionalProperties": false},
        "closed": {"type": "object", "properties": {"a": {"type": "string"}}, "additionalProperties": false},
        "unsaid": {"type": "object", "properties": {"a": {"type": "string"}}},
        "map": {"type": "object", "additionalProperties": {"type": "integer"}},
        "both": {"type": "object", "properties": {"a": {"type": "string"}}, "additionalProperties": {"type": "integer"}},
    }}));
    let p = &s["properties"];
    assert_eq!(
        p["open"],
        json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true})
    );
    assert_eq!(
        p["closedEmpty"],
        json!({"type": "object", "additionalProperties": false})
    );
    // closed: no additionalProperties next to properties (the API server refuses both)
    assert_eq!(
        p["closed"],
        json!({"type": "object", "properties": {"a": {"type": "string"}}})
    );
    assert_eq!(p["unsaid"]["x-kubernetes-preserve-unknown-fields"], true);
    assert_eq!(
        p["map"],
        json!({"type": "object", "additionalProperties": {"type": "integer"}})
    );
    assert_eq!(p["both"]["x-kubernetes-preserve-unknown-fields"], true);
    assert!(p["both"].get("additionalProperties").is_none());
    assert!(
        warned(
            &w,
            "spec.both: fields besides the named ones are not checked"
        ),
        "{w:?}"
    );
    assert!(!accepts(&p["closed"], json!({"b": 1})));
}

#[test]
fn type_unions() {
    let (s, w) = conv(json!({"type": "object", "properties": {
        "nullableName": {"type": ["string", "null"]},
        "quantity": {"type": ["string", "integer"]},
        "count": {"type": ["integer", "number"]},
        "anything": {"type": ["string", "boolean", "object"]},
    }}));
    let p = &s["properties"];
    assert_eq!(
        p["nullableName"],
        json!({"type": "string", "nullable": true})
    );
    assert_eq!(p["quantity"]["x-kubernetes-int-or-string"], true);
    assert_eq!(p["count"], json!({"type": "number"}));
    assert_eq!(
        p["anything"],
        json!({"x-kubernetes-preserve-unknown-fields": true})
    );
    assert!(
        warned(&w, "spec.anything: may be any of boolean, object, string"),
        "{w:?}"
    );
}

#[test]
fn null_in_type_enum_or_branch_is_nullable() {
    let (s, w) = conv(json!({"type": "object", "properties": {
        "storageClass": {"oneOf": [{"type": "null"}, {"type": "string", "minLength": 1}]},
        "size": {"enum": ["small", "large", null]},
    }}));
    assert!(w.is_empty(), "{w:?}");
    let p = &s["properties"];
    assert_eq!(p["storageClass"]["type"], "string");
    assert_eq!(p["storageClass"]["nullable"], true);
    assert_eq!(p["storageClass"]["allOf"], json!([{"minLength": 1}]));
    // the API server checks a node's own enum against null too (and null
    // never matches it): the enum is checked from allOf, which null skips
    assert_eq!(
        p["size"],
        json!({"type": "string", "allOf": [{"enum": ["small", "large"]}], "nullable": true})
    );
    assert!(accepts(&p["size"], Value::Null));
    assert!(!accepts(&p["size"], json!("medium")));
    // type [string, null] beside an enum with null: the same
    let (s, _) = conv(json!({"type": "object", "properties": {
        "format": {"type": ["string", "null"], "enum": ["common", "json", null], "default": "common"},
    }}));
    let format = &s["properties"]["format"];
    assert!(format.get("enum").is_none(), "{format}");
    assert_eq!(format["allOf"], json!([{"enum": ["common", "json"]}]));
    assert_eq!(format["default"], "common");
    assert!(admits(s.as_object().unwrap(), &json!({"format": null})).is_none());
}

#[test]
fn defaults_kept_when_valid_dropped_when_not() {
    let (s, w) = conv(json!({"type": "object", "properties": {
        "level": {"type": "string", "enum": ["info", "debug"], "default": "info"},
        "bad": {"type": "integer", "maximum": 3, "default": 5},
    }}));
    assert_eq!(s["properties"]["level"]["default"], "info");
    assert!(s["properties"]["bad"].get("default").is_none());
    assert!(warned(&w, "spec.bad: default 5 dropped"), "{w:?}");
}

#[test]
fn unique_items_tuples_and_unsupported_keywords_warn() {
    let (s, w) = conv(json!({"type": "object", "properties": {
        "tags": {"type": "array", "items": {"type": "string"}, "uniqueItems": true},
        "pair": {"type": "array", "prefixItems": [{"type": "string"}, {"type": "string"}]},
        "tls": {"type": "object", "properties": {"enabled": {"type": "boolean"}},
                "if": {"properties": {"enabled": {"const": true}}}, "then": {"required": ["secret"]}},
    }}));
    let p = &s["properties"];
    assert!(p["tags"].get("uniqueItems").is_none());
    assert_eq!(p["pair"]["items"]["type"], "string");
    assert!(warned(&w, "spec.tags: uniqueItems"));
    assert!(warned(&w, "spec.pair: items by position"));
    assert!(warned(&w, "spec.tls: `if` has no counterpart"));
}

#[test]
fn patterns_the_api_server_cannot_read_are_dropped() {
    let (s, w) = conv(json!({"type": "object", "properties": {
        "name": {"type": "string", "pattern": "^(?!kube-).*$"},
        // Rust's regex reads these, Go's does not: the API server would
        // refuse the whole CRD
        "text": {"type": "string", "pattern": "^[^\\u0000-\\u001F]*$"},
        "spaced": {"type": "string", "pattern": "(?x) ^ a $"},
        "kept": {"type": "string", "pattern": "^[^\\x00-\\x1F]*$"},
    }}));
    for field in ["name", "text", "spaced"] {
        assert!(s["properties"][field].get("pattern").is_none(), "{field}");
    }
    assert_eq!(s["properties"]["kept"]["pattern"], "^[^\\x00-\\x1F]*$");
    assert!(warned(&w, "spec.text: pattern"), "{w:?}");
    assert!(
        warned(&w, "not a regular expression the API server (RE2) reads"),
        "{w:?}"
    );
}

#[test]
fn deep_and_huge_schemas_are_bounded() {
    let mut deep = json!({"type": "string"});
    for _ in 0..100 {
        deep = json!({"type": "object", "properties": {"a": deep}});
    }
    let (s, w) = conv(deep);
    assert!(warned(&w, "nested deeper than"), "{w:?}");
    assert!(s
        .to_string()
        .contains("x-kubernetes-preserve-unknown-fields"));
    // each definition uses the next one twice: 2^40 nodes if unfolded
    let mut defs = serde_json::Map::new();
    for i in 0..40 {
        defs.insert(
            format!("d{i}"),
            json!({"type": "object", "properties": {
                "x": {"$ref": format!("#/definitions/d{}", i + 1)},
                "y": {"$ref": format!("#/definitions/d{}", i + 1)},
            }}),
        );
    }
    defs.insert("d40".into(), json!({"type": "string"}));
    let (_, w) = conv(json!({"$ref": "#/definitions/d0", "definitions": defs}));
    assert!(warned(&w, "unfolds into more than"), "{w:?}");
}

#[test]
fn required_fields_with_chart_defaults_are_not_required_of_the_cr() {
    let schema = json!({"type": "object", "required": ["name", "token"],
        "properties": {"name": {"type": "string"}, "token": {"type": "string"}}});
    let defaults = json!({"name": "unnamed"});
    let (spec, w) = convert(&schema, &[], Some(&defaults));
    assert_eq!(spec["required"], json!(["token"]));
    // helm merges the CR over values.yaml: the default is always there
    assert!(w.is_empty(), "{w:?}");
    // unless a CR's null removes it, which a nullable field lets through
    let schema = json!({"type": "object", "required": ["name"],
        "properties": {"name": {"type": ["string", "null"]}}});
    let (spec, w) = convert(&schema, &[], Some(&defaults));
    assert!(spec.get("required").is_none());
    assert!(
        w[0].to_string()
            .contains("spec: required [\"name\"]: not required of the CR (values.yaml has defaults), but a CR's null removes the default"),
        "{w:?}"
    );
}

#[test]
fn warnings_about_defaults_are_short_and_said_once() {
    let long = "x".repeat(500);
    let schema = json!({"type": "object", "properties": {
        "security": {"type": "object", "default": {}, "properties": {"runAsUser": {"type": "integer"}}},
        "config": {"type": "string", "default": ""},
        "mode": {"type": "string", "anyOf": [
            {"$ref": "https://schemas.example/a.json"}, {"$ref": "https://schemas.example/a.json"}]},
    }});
    let defaults = json!({"security": {"runAsUser": 1000}, "config": long});
    let (_, w) = convert(&schema, &[], Some(&defaults));
    let w: Vec<String> = w.iter().map(ToString::to_string).collect();
    // a map's `{}` beside the map values.yaml fills in: nothing to say
    assert!(!warned(&w, "spec.security"), "{w:?}");
    let config = w.iter().find(|w| w.starts_with("spec.config:")).unwrap();
    assert!(config.len() < 200 && config.contains("xxx…"), "{config}");
    let outside = |w: &&String| w.starts_with("spec.mode:") && w.contains("points outside");
    assert_eq!(w.iter().filter(outside).count(), 1, "{w:?}");
}

#[test]
fn resource_layout_takes_the_schema_of_resource_spec() {
    let schema = json!({"type": "object", "properties": {"resource": {"type": "object", "properties": {
        "name": {"type": "string"},
        "spec": {"type": "object", "properties": {"By": {"type": "string"}}, "additionalProperties": false},
    }}}});
    let (spec, w) = convert(&schema, &["resource", "spec"], None);
    assert!(w.is_empty());
    assert_eq!(
        Value::Object(spec),
        json!({"type": "object", "properties": {"By": {"type": "string"}}})
    );
    let (spec, w) = convert(&json!({"type": "object"}), &["resource", "spec"], None);
    assert_eq!(spec["x-kubernetes-preserve-unknown-fields"], true);
    assert!(
        w[0].to_string().contains("does not describe `resource`"),
        "{w:?}"
    );
}

fn names() -> Names {
    names::check(&NameRequest {
        group: "platform.example.com",
        kind: "Tenant",
        version: "v1alpha1",
        ..Default::default()
    })
    .unwrap()
}

fn chart(schema: Option<&str>, values: Option<&str>) -> ChartInput {
    ChartInput {
        reference: "./chart".into(),
        name: "demo".into(),
        version: "1.0.0".into(),
        schema: schema.map(str::to_owned),
        values: values.map(str::to_owned),
        subcharts: vec!["redis".into()],
    }
}

#[test]
fn the_crd_has_names_status_columns_and_a_header() {
    let g = generate(
        &names(),
        Scope::Namespaced,
        Layout::Spec,
        &chart(None, Some("replicas: 1\nredis: {auth: true}\n")),
    )
    .unwrap();
    let d = &g.document;
    assert_eq!(d["metadata"]["name"], "tenants.platform.example.com");
    assert_eq!(d["spec"]["scope"], "Namespaced");
    let v = &d["spec"]["versions"][0];
    assert_eq!(v["subresources"], json!({"status": {}}));
    let columns: Vec<&str> = v["additionalPrinterColumns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        columns,
        ["Ready", "Reason", "Release", "Revision", "Age", "Message"]
    );
    assert_eq!(v["additionalPrinterColumns"][5]["priority"], 1);
    let spec = &v["schema"]["openAPIV3Schema"]["properties"]["spec"];
    assert_eq!(spec["properties"]["replicas"]["type"], "integer");
    // a subchart's values are its own
    assert_eq!(
        spec["properties"]["redis"]["x-kubernetes-preserve-unknown-fields"],
        true
    );
    assert!(g
        .yaml
        .starts_with("# Generated by `lostromos crd` from the chart demo 1.0.0 (./chart)"));
    let back: Value = serde_saphyr::from_str(&g.yaml).unwrap();
    assert_eq!(&back, d);
}

#[test]
fn bad_input_is_a_clear_error() {
    let e = generate(&names(), Scope::Cluster, Layout::Spec, &chart(None, None)).unwrap_err();
    assert!(
        e.to_string()
            .contains("neither values.schema.json nor values.yaml"),
        "{e}"
    );
    let e = generate(
        &names(),
        Scope::Cluster,
        Layout::Spec,
        &chart(Some("{\"type\": "), None),
    )
    .unwrap_err();
    assert!(e.to_string().contains("not valid JSON"), "{e}");
    let e = generate(
        &names(),
        Scope::Cluster,
        Layout::Spec,
        &chart(Some(r#"{"type": "strin"}"#), None),
    )
    .unwrap_err();
    assert!(
        e.to_string().contains("type \"strin\" is not one of"),
        "{e}"
    );
    let e = generate(
        &names(),
        Scope::Cluster,
        Layout::Spec,
        &chart(Some(r#"{"properties": {"a": 5}}"#), None),
    )
    .unwrap_err();
    assert!(
        e.to_string()
            .contains("/properties/a: a schema must be an object"),
        "{e}"
    );
    let e = generate(
        &names(),
        Scope::Cluster,
        Layout::Spec,
        &chart(None, Some("- a\n")),
    )
    .unwrap_err();
    assert!(e.to_string().contains("must be a map"), "{e}");
    let e = generate(
        &names(),
        Scope::Cluster,
        Layout::Spec,
        &chart(None, Some("a: [\n")),
    )
    .unwrap_err();
    assert!(e.to_string().contains("not valid YAML"), "{e}");
    // nested beyond serde_json's limit: an error, not a stack overflow
    let deep = format!("{}{}", "{\"not\":".repeat(300), "}".repeat(300));
    assert!(generate(
        &names(),
        Scope::Cluster,
        Layout::Spec,
        &chart(Some(&deep), None)
    )
    .is_err());
}

/// Generates the CRD of a chart with `schema` and `values` (values.yaml),
/// and checks the property every generated CRD must have: the chart's own
/// defaults, as a CR's spec, are admitted.
fn defaults_admitted(schema: Option<Value>, values: &str) -> Generated {
    let schema = schema.map(|s| s.to_string());
    let g = generate(
        &names(),
        Scope::Namespaced,
        Layout::Spec,
        &chart(schema.as_deref(), Some(values)),
    )
    .unwrap();
    let spec =
        &g.document["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"];
    let v: Value = serde_saphyr::from_str(values).unwrap();
    assert_eq!(admits(spec.as_object().unwrap(), &v), None, "{spec:#}");
    g
}

#[test]
fn a_null_default_of_a_nullable_enum_is_admitted() {
    defaults_admitted(
        Some(
            json!({"type": "object", "properties": {"log": {"type": "object", "properties": {
                "format": {"type": ["string", "null"], "enum": ["common", "json", null], "default": "common"},
                "level": {"enum": ["info", "debug", null]},
            }}}}),
        ),
        "log:\n  format: null\n  level: ~\n",
    );
}

#[test]
fn a_branch_that_accepts_anything_keeps_the_field_open() {
    // anyOf [an external $ref, a boolean]: an integer is fine by the first
    let g = defaults_admitted(
        Some(json!({"type": "object", "properties": {"hostPort": {
            "type": "object",
            "patternProperties": {"^.*$": {"anyOf": [
                {"$ref": "https://schemas.example/core.json#/definitions/port"},
                {"type": "boolean"},
            ]}},
        }}})),
        "hostPort:\n  enable: false\n  http: 80\n",
    );
    let spec =
        &g.document["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"];
    assert_eq!(
        spec["properties"]["hostPort"]["additionalProperties"],
        json!({"x-kubernetes-preserve-unknown-fields": true})
    );
    assert!(
        g.warnings
            .iter()
            .any(|w| w.path == "spec.hostPort.*" && w.message.contains("points outside")),
        "{:?}",
        g.warnings
    );
    // a branch that allows nothing (`false`) gives no type
    let (s, _) = conv(json!({"type": "object", "properties": {
        "x": {"anyOf": [false, {"type": "integer"}]},
    }}));
    assert_eq!(s["properties"]["x"]["type"], "integer");
}

#[test]
fn a_field_required_in_a_map_of_defaults_is_not_required_of_the_cr() {
    // each port requires `enabled`, and every port of values.yaml has it:
    // a CR that changes one field of a port gets the rest from values.yaml
    let schema = json!({"type": "object", "properties": {"ports": {
        "type": "object",
        "patternProperties": {".*": {
            "type": "object", "additionalProperties": false, "required": ["enabled"],
            "properties": {"enabled": {"type": "boolean"}, "port": {"type": "integer"},
                           "tls": {"type": "object", "required": ["secret"], "properties": {"secret": {"type": "string"}}}},
        }},
    }}});
    let g = defaults_admitted(
        Some(schema.clone()),
        "ports:\n  web:\n    enabled: true\n    port: 80\n  tls:\n    enabled: false\n    port: 443\n    tls: {secret: cert}\n",
    );
    let spec =
        &g.document["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"];
    let port = &spec["properties"]["ports"]["additionalProperties"];
    assert!(port.get("required").is_none(), "{port}");
    assert!(
        port["properties"]["tls"].get("required").is_none(),
        "{port}"
    );
    assert_eq!(
        admits(
            spec.as_object().unwrap(),
            &json!({"ports": {"web": {"port": 8080}}})
        ),
        None
    );
    // without defaults for the map, its entries must say it
    let (s, _) = conv(schema);
    assert_eq!(
        s["properties"]["ports"]["additionalProperties"]["required"],
        json!(["enabled"])
    );
}

/// A schema of `n` string fields, each with a description of `len` bytes.
fn wide_schema(n: usize, len: usize) -> String {
    let props: serde_json::Map<String, Value> = (0..n)
        .map(|i| {
            let d = format!("{i} {}", "d".repeat(len));
            (format!("f{i}"), json!({"type": "string", "description": d}))
        })
        .collect();
    json!({"type": "object", "properties": props}).to_string()
}

#[test]
fn a_large_crd_says_how_to_apply_it_and_a_huge_one_sheds_descriptions() {
    let small = generate(
        &names(),
        Scope::Namespaced,
        Layout::Spec,
        &chart(Some(&wide_schema(10, 100)), None),
    )
    .unwrap();
    assert!(small.notes.is_empty(), "{:?}", small.notes);
    // over kubectl apply's 256 KiB annotation
    let large = generate(
        &names(),
        Scope::Namespaced,
        Layout::Spec,
        &chart(Some(&wide_schema(300, 1000)), None),
    )
    .unwrap();
    assert_eq!(large.notes.len(), 1, "{:?}", large.notes);
    assert!(
        large.notes[0].contains("kubectl apply --server-side"),
        "{:?}",
        large.notes
    );
    assert!(
        large.yaml.contains("# the CRD is "),
        "the header says it too"
    );
    assert!(large.document.to_string().contains("dddd"));
    // over etcd's 1.5 MiB: the descriptions go, the fields stay
    let huge = generate(
        &names(),
        Scope::Namespaced,
        Layout::Spec,
        &chart(Some(&wide_schema(2000, 1000)), None),
    )
    .unwrap();
    assert!(
        huge.notes[0].contains("descriptions were left out"),
        "{:?}",
        huge.notes
    );
    assert!(serde_json::to_vec(&huge.document).unwrap().len() < LAST_APPLIED_LIMIT);
    let spec =
        &huge.document["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"];
    assert_eq!(spec["properties"]["f1999"], json!({"type": "string"}));
}

#[test]
fn a_crd_too_large_to_store_even_bare_says_so() {
    let props: serde_json::Map<String, Value> = (0..80)
        .map(|i| {
            let values: Vec<String> = (0..200)
                .map(|j| format!("v{j}-{}", "e".repeat(100)))
                .collect();
            (format!("f{i}"), json!({"type": "string", "enum": values}))
        })
        .collect();
    let schema = json!({"type": "object", "properties": props}).to_string();
    let g = generate(
        &names(),
        Scope::Namespaced,
        Layout::Spec,
        &chart(Some(&schema), None),
    )
    .unwrap();
    assert_eq!(g.notes.len(), 1, "{:?}", g.notes);
    assert!(
        g.notes[0].contains("will most likely refuse it"),
        "{:?}",
        g.notes
    );
}

#[test]
fn inferred_maps_take_the_fields_values_yaml_names_in_comments_too() {
    let values = "\
# nameOverride: \"\"
controller:
  image:
    image: ingress/controller
    ## repository:
    tag: \"1.0\"
  service:
    type: ClusterIP
";
    let g = defaults_admitted(None, values);
    let spec = g.document["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
        .as_object()
        .unwrap()
        .clone();
    let cr =
        json!({"nameOverride": "x", "controller": {"image": {"repository": "r/c", "tag": "2.0"}}});
    assert_eq!(admits(&spec, &cr), None);
    // the known fields keep their types, and a misspelt field is still
    // refused, beside commented ones too
    assert!(admits(&spec, &json!({"controller": {"image": {"tag": 2}}})).is_some());
    for typo in [
        json!({"controller": {"service": {"tpye": "LoadBalancer"}}}),
        json!({"controller": {"image": {"repositry": "r/c"}}}),
        json!({"controler": {}}),
    ] {
        let refused = admits(&spec, &typo);
        assert!(refused.unwrap().contains("unknown field"), "{typo}");
    }
}

#[test]
fn an_inferred_number_written_with_a_fraction_takes_fractions() {
    let g = defaults_admitted(None, "ratio: 1.0\nreplicas: 1\nbig: 1e3\n");
    let spec = g.document["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
        .as_object()
        .unwrap()
        .clone();
    assert_eq!(spec["properties"]["ratio"]["type"], "number");
    assert_eq!(spec["properties"]["replicas"]["type"], "integer");
    assert_eq!(admits(&spec, &json!({"ratio": 0.5, "big": 2.5})), None);
}

#[test]
fn inferred_fields_handed_on_to_kubernetes_and_list_items_take_more_than_the_defaults() {
    let values = "\
image:
  repository: r/app
  tag: \"1.0\"
resources:
  requests:
    cpu: 100m
tolerations:
  - key: dedicated
    operator: Exists
hosts:
  - host: a.example.com
    paths: [/]
";
    let g = defaults_admitted(None, values);
    let spec = g.document["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
        .as_object()
        .unwrap()
        .clone();
    let cr = json!({
        "resources": {"limits": {"cpu": 1, "memory": "1Gi"}, "requests": {"cpu": "250m"}},
        "tolerations": [{"key": "gpu", "operator": "Equal", "value": "x", "effect": "NoSchedule"}],
        "hosts": [{"host": "b.example.com", "paths": ["/api"], "tlsSecret": "b-tls"}],
    });
    assert_eq!(admits(&spec, &cr), None);
    // the chart's own map is still closed, and the fields the defaults show
    // keep their types, in list items too
    for bad in [
        json!({"image": {"tga": "2"}}),
        json!({"image": {"tag": 2}}),
        json!({"hosts": [{"host": 1}]}),
    ] {
        assert!(admits(&spec, &bad).is_some(), "{bad}");
    }
}
