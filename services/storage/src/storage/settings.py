from portal_kit.settings import ServiceSettings
from pydantic_settings import SettingsConfigDict

MiB = 1024 * 1024
GiB = 1024 * MiB

DEFAULT_ALLOWED_TYPES = [
    "text/csv",
    "text/plain",
    "text/tab-separated-values",
    "application/json",
    "application/geo+json",
    "application/ld+json",
    "application/xml",
    "text/xml",
    "application/rdf+xml",
    "text/turtle",
    "application/pdf",
    "application/zip",
    "application/gzip",
    "application/x-7z-compressed",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.ms-excel",
    "application/msword",
    "application/x-ole-storage",
    "application/vnd.oasis.opendocument.spreadsheet",
    "application/vnd.oasis.opendocument.text",
    "application/vnd.google-earth.kml+xml",
    "application/vnd.google-earth.kmz",
    "application/x-sqlite3",
    "application/x-shapefile",
    "application/vnd.geo+json",
    "application/octet-stream",
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/tiff",
    "image/webp",
    "image/svg+xml",
    "text/html",
]


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="PORTAL_STORAGE_", extra="ignore")

    service_name: str = "storage"

    # uploads
    max_file_size: int = 2 * GiB
    # S3 multipart part size for streamed uploads (>= 5 MiB); at most ~2 parts are in memory
    part_size: int = 5 * MiB
    organization_quota: int = 100 * GiB  # default per organization; 0 = unlimited
    allowed_media_types: list[str] = DEFAULT_ALLOWED_TYPES
    # reject a file whose bytes say it is an executable even if allowed_media_types has octet-stream
    denied_media_types: list[str] = [
        "application/x-msdownload",
        "application/x-executable",
        "application/x-mach-binary",
        "application/x-sh",
    ]

    # resumable (S3-style multipart) uploads
    upload_min_part_size: int = 5 * MiB
    upload_max_part_size: int = 32 * MiB
    upload_part_concurrency: int = 2  # part bodies buffered at once in this process
    upload_session_ttl_seconds: int = 24 * 3600
    upload_cleanup_interval: float = 300.0
    presign_parts: bool = True  # offer presigned part URLs (direct to S3)

    # downloads
    download_chunk_size: int = 256 * 1024
    redirect_downloads: bool = False  # 302 to a presigned URL instead of streaming
    presign_ttl_seconds: int = 300
    stats_flush_interval: float = 5.0

    # S3 client
    s3_connect_timeout: float = 3.0
    s3_read_timeout: float = 60.0
    s3_retries: int = 1
