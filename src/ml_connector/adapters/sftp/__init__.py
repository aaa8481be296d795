"""SFTP adapter: the Stampli side. asyncssh stays inside this package."""

from ml_connector.adapters.sftp.hostkeys import HostKeyInfo, fetch_host_key
from ml_connector.adapters.sftp.settings import SftpSettings
from ml_connector.adapters.sftp.source import SftpSource
from ml_connector.domain.files import Downloaded, RemoteFile

__all__ = ["Downloaded", "HostKeyInfo", "RemoteFile", "SftpSettings", "SftpSource", "fetch_host_key"]
