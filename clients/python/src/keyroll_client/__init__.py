"""keyroll's client: an API key that rolls itself over in process.

from keyroll_client import Credential, FileStore

credential = Credential(
    base_url="https://keyroll.example.com",
    secret=os.environ["API_KEY"],
    delivery_private_key=open("delivery-key.jwk").read(),
    store=FileStore("/var/lib/app/api-key"),
)
requests.get(url, auth=KeyrollAuth(credential))
"""

__version__ = "0.1.0"

from .credential import Credential, KeyrollError, load_private_key  # noqa: E402
from .store import CallbackStore, FileStore, NoStore, SecretStore  # noqa: E402

__all__ = [
    "CallbackStore",
    "Credential",
    "FileStore",
    "KeyrollError",
    "NoStore",
    "SecretStore",
    "__version__",
    "load_private_key",
]
