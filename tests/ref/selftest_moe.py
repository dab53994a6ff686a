"""Self-test of the SPEC §3a (Mixture-of-Experts) reference. Filled below."""
TESTS = []
TMP_TESTS = []
