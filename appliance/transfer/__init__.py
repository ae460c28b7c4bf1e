"""Remote file sources behind one interface: FTP, FTPS, SFTP and HTTP(S) directory indexes.
Pull reads recordings through it; backup's FTP and SFTP targets will write through it."""

from __future__ import annotations

from appliance.transfer.client import (
    Credentials,
    Listing,
    RemoteEntry,
    RemoteFile,
    TransferClient,
    connect,
    read_small,
    walk,
)

__all__ = [
    "Credentials",
    "Listing",
    "RemoteEntry",
    "RemoteFile",
    "TransferClient",
    "connect",
    "read_small",
    "walk",
]
