"""Who is calling, and which organization an account belongs to, from moto's state.

Shared by the extensions: AWS error messages name the caller's ARN, and both
organization aggregators and organization-wide layer permissions need the
caller's organization.
"""

from __future__ import annotations

from moto.core.responses import BaseResponse
from moto.organizations.models import FakeOrganization, organizations_backends
from moto.sts.models import sts_backends


def caller_arn(response: BaseResponse) -> str:
    """The ARN `GetCallerIdentity` would report for the credentials of this request."""
    sts = sts_backends[response.current_account][response.partition]
    _, arn, _ = sts.get_caller_identity(response.get_access_key(), response.region)
    return arn


def organization_of(account_id: str) -> FakeOrganization | None:
    backend = _management_backend(account_id)
    return backend.org if backend else None


def active_organization_accounts(account_id: str) -> list[str]:
    """ACTIVE accounts of the organization that `account_id` manages or belongs to."""
    backend = _management_backend(account_id)
    if backend is None or backend.org is None:
        return []
    return [account.id for account in backend.accounts if account.status == "ACTIVE"]


def _management_backend(account_id: str):  # type: ignore[no-untyped-def]
    management, partition = organizations_backends.master_accounts.get(
        account_id, (account_id, "aws")
    )
    account_backends = dict.get(organizations_backends, management)
    if account_backends is None:
        return None
    return dict.get(account_backends, partition)
