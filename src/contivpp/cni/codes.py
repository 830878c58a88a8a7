"""The CNI spec's error codes and the versions contivpp speaks, in one place.

Imported by the per-pod plugin too, so it imports nothing at all.
"""

SUPPORTED_VERSIONS = ("0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0")

INCOMPATIBLE_VERSION = 1
INVALID_ENVIRONMENT = 4
DECODING_FAILURE = 6
INVALID_NETWORK_CONFIG = 7
TRY_AGAIN_LATER = 11
PLUGIN_NOT_AVAILABLE = 50
GENERIC_FAILURE = 999
