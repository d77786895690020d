//! The CLI signs requests for the deployed API as AWS expects: the same request, with
//! the same credentials and clock, signed by botocore's SigV4Auth (the AWS SDK for
//! Python's own signer, an independent implementation) carries the same headers.
//! Needs KEYROLL_BOTOCORE_PYTHON, a Python with botocore (scripts/test points it at
//! the SAM CLI's virtualenv).

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use keyroll_cli::sigv4::Signer;

const SIGNER: &str = r#"
import datetime, json, sys
import botocore.auth
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
case = json.loads(sys.argv[1])
botocore.auth.get_current_datetime = lambda: datetime.datetime(2026, 12, 4, 12, 0, 0)
request = AWSRequest(method=case["method"], url=case["url"], data=case["body"].encode(), headers=case["headers"])
SigV4Auth(Credentials(case["key"], case["secret"], case["token"]), "execute-api", case["region"]).add_auth(request)
print(json.dumps({k.lower(): v for k, v in request.headers.items()}))
"#;

fn python() -> String {
    std::env::var("KEYROLL_BOTOCORE_PYTHON").unwrap_or_else(|_| {
        panic!("KEYROLL_BOTOCORE_PYTHON is not set: a Python with botocore signs the reference requests; run scripts/test")
    })
}

#[test]
fn requests_are_signed_as_the_aws_sdks_signer_signs_them() {
    let signer = Signer {
        credentials: Credentials::new(
            "AKIDEXAMPLE",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            Some("session-token-from-sso".into()),
            None,
            "test",
        ),
        region: "eu-west-1".into(),
    };
    // 2026-12-04T12:00:00Z
    let time = SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_385_600);
    let host = "a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com";
    let cases = [
        (
            "GET",
            format!("https://{host}/v1/keys?organizationId=org_acme&limit=100&cursor=a%2Bb%3D"),
            "",
            None,
        ),
        (
            "POST",
            format!("https://{host}/v1/keys/key_01abc/rotations"),
            r#"{"immediate":true,"gracePeriodSeconds":259200}"#,
            Some("application/json"),
        ),
        (
            "POST",
            format!("https://{host}/v1/keys/import"),
            "id,organizationId\nk1,org_acme\n",
            Some("text/csv"),
        ),
        (
            "DELETE",
            format!("https://{host}/v1/organizations/org_acme/contacts/ct_01"),
            "",
            None,
        ),
    ];
    for (method, url, body, content_type) in cases {
        let mut headers = vec![("host".to_owned(), host.to_owned())];
        if let Some(content_type) = content_type {
            headers.push(("content-type".to_owned(), content_type.to_owned()));
        }
        let ours: std::collections::BTreeMap<String, String> = signer
            .headers(method, &url, &headers, body.as_bytes(), time)
            .unwrap()
            .into_iter()
            .map(|(n, v)| (n.to_ascii_lowercase(), v))
            .collect();
        let case = serde_json::json!({
            "method": method, "url": url, "body": body,
            "headers": headers.iter().cloned().collect::<std::collections::BTreeMap<_, _>>(),
            "key": "AKIDEXAMPLE", "secret": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            "token": "session-token-from-sso", "region": "eu-west-1",
        });
        let output = std::process::Command::new(python())
            .args(["-c", SIGNER, &case.to_string()])
            .output()
            .expect("run the botocore signer");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let theirs: std::collections::BTreeMap<String, String> =
            serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(ours["x-amz-date"], "20261204T120000Z");
        for name in ["authorization", "x-amz-date", "x-amz-security-token"] {
            assert_eq!(ours.get(name), theirs.get(name), "{method} {url}: {name}");
        }
        assert!(ours["authorization"].starts_with(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261204/eu-west-1/execute-api/aws4_request"
        ));
    }
}
