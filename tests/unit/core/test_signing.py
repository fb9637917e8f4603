from ovnmeta.core.signing import sign_instance_id, signature_matches

INSTANCE = "b65cee2f-8c69-4aeb-be2f-f79742548fc2"


def test_signature_matches_contract_vector():
    expected = "823491c9c66985fac0685c45d8eda8869d581ff62c4661479451ee51e2946737"
    assert sign_instance_id("s3cr3t", INSTANCE) == expected


def test_empty_secret_still_signs():
    expected = "988ce0432879b2da725247b4a4c1a9ea78966115a19bcd11de5389b1e37c0fed"
    assert sign_instance_id("", INSTANCE) == expected


def test_uppercase_hex_is_rejected():
    good = sign_instance_id("s3cr3t", INSTANCE)
    assert signature_matches("s3cr3t", INSTANCE, good)
    assert not signature_matches("s3cr3t", INSTANCE, good.upper())
    assert not signature_matches("other", INSTANCE, good)
