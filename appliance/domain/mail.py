"""Alarm e-mail (SPEC R-MON-3): the SMTP account the appliance sends from, and presets."""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from appliance.domain.alarms import check_email
from appliance.domain.devices import check_host
from appliance.domain.rules import check_length, check_range
from appliance.errors import InvalidInput


class MailSecurity(StrEnum):
    NONE = "NONE"
    STARTTLS = "STARTTLS"
    TLS = "TLS"  # implicit TLS from the first byte (SMTPS, usually port 465)


@dataclass(frozen=True)
class MailPreset:
    key: str
    name: str
    host: str
    port: int
    security: MailSecurity


# The mailboxes Chinese enterprises use, and the two international ones; hosts and ports
# as each provider documents its SMTP service.
PRESETS = (
    MailPreset(
        "exmail",
        "腾讯企业邮箱 / QQ 企业邮箱 (Tencent Exmail)",
        "smtp.exmail.qq.com",
        465,
        MailSecurity.TLS,
    ),
    MailPreset("qq", "QQ 邮箱", "smtp.qq.com", 465, MailSecurity.TLS),
    MailPreset("163", "网易 163 邮箱", "smtp.163.com", 465, MailSecurity.TLS),
    MailPreset("126", "网易 126 邮箱", "smtp.126.com", 465, MailSecurity.TLS),
    MailPreset("aliyun", "阿里云企业邮箱", "smtp.qiye.aliyun.com", 465, MailSecurity.TLS),
    MailPreset(
        "office365", "Outlook / Office 365", "smtp.office365.com", 587, MailSecurity.STARTTLS
    ),
    MailPreset("gmail", "Gmail", "smtp.gmail.com", 465, MailSecurity.TLS),
)

HOST_MAX, ACCOUNT_MAX, PASSWORD_MAX = 253, 128, 256


@dataclass(frozen=True)
class MailSettings:
    """The sending account; the password travels sealed by the master key when stored."""

    host: str = ""
    port: int = 465
    security: MailSecurity = MailSecurity.TLS
    username: str = ""
    password: str = ""
    sender: str = ""
    language: str = "zh-CN"  # the mails' language: the console's of whoever saved this

    @property
    def configured(self) -> bool:
        return bool(self.host and self.sender)

    def validate(self) -> MailSettings:
        host = self.host.strip()
        if host:
            check_length("host", check_host("host", host), HOST_MAX)
        check_range("port", self.port, 1, 65535)
        if self.username:
            check_length("username", self.username, ACCOUNT_MAX)
        if len(self.password) > PASSWORD_MAX:
            check_length("password", self.password, PASSWORD_MAX)
        sender = check_email("sender", self.sender) if self.sender.strip() else ""
        if host and not sender:
            raise InvalidInput("the sender's address is required", field="sender", code="required")
        return replace(self, host=host, sender=sender, username=self.username.strip())

    def to_store(self, sealed_password: str) -> dict[str, Any]:
        return {
            "host": self.host,
            "port": self.port,
            "security": self.security.value,
            "username": self.username,
            "password": sealed_password,
            "sender": self.sender,
            "language": self.language,
        }

    @classmethod
    def from_store(cls, stored: dict[str, Any], password: str) -> MailSettings:
        try:
            return cls(
                host=str(stored.get("host", "")),
                port=int(stored.get("port", 465)),
                security=MailSecurity(stored.get("security", MailSecurity.TLS)),
                username=str(stored.get("username", "")),
                password=password,
                sender=str(stored.get("sender", "")),
                language=str(stored.get("language", "zh-CN")),
            )
        except (ValueError, TypeError):
            return cls()
