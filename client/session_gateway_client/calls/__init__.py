"""Every operation of the client, once: a function from typed arguments to the `Call` that performs it.

`Client` and `AsyncClient` expose these functions as their methods (`session_gateway_client.binding`), so both
have the same operations with the same arguments and answers. Paths are file paths inside a session, given as
text (any Unicode form: the gateway stores NFC); they are percent-encoded here, never by the caller.
"""

from __future__ import annotations

from session_gateway_client.calls.files import (
    byte_range,
    copy,
    create_link,
    delete_file,
    delete_folder,
    download,
    file_info,
    history_page,
    list_files_page,
    move,
    open_file,
    read_range,
    rollback,
    set_folder_tier,
    set_tier,
    upload,
)
from session_gateway_client.calls.sessions import (
    archive_session,
    create_session,
    delete_session,
    end_session,
    fork_session,
    get_session,
    list_sessions_page,
    reactivate_session,
    update_session,
)
from session_gateway_client.calls.sharing import (
    create_grant,
    create_share,
    export_zip,
    get_export,
    list_grants,
    list_shared,
    list_shares,
    revoke_grant,
    revoke_share,
    start_export,
)

__all__ = [
    "archive_session",
    "byte_range",
    "copy",
    "create_grant",
    "create_link",
    "create_session",
    "create_share",
    "delete_file",
    "delete_folder",
    "delete_session",
    "download",
    "end_session",
    "export_zip",
    "file_info",
    "fork_session",
    "get_export",
    "get_session",
    "history_page",
    "list_files_page",
    "list_grants",
    "list_sessions_page",
    "list_shared",
    "list_shares",
    "move",
    "open_file",
    "reactivate_session",
    "read_range",
    "revoke_grant",
    "revoke_share",
    "rollback",
    "set_folder_tier",
    "set_tier",
    "start_export",
    "update_session",
    "upload",
]
