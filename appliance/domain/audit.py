"""The kinds of entries in the audit trail ("操作痕迹")."""

from enum import StrEnum


class AuditType(StrEnum):
    LOGIN = "LOGIN"
    LOGIN_FAILED = "LOGIN_FAILED"
    LOGOUT = "LOGOUT"
    PASSWORD = "PASSWORD"
    PLAY = "PLAY"
    DOWNLOAD = "DOWNLOAD"
    EXPORT = "EXPORT"
    SCORE = "SCORE"
    TAG = "TAG"
    DELETE = "DELETE"
    UPLOAD = "UPLOAD"
    SETTINGS = "SETTINGS"
    DEVICE = "DEVICE"
    TOKEN = "TOKEN"
    USER = "USER"
    ORGANIZATION = "ORGANIZATION"
    EMPLOYEE = "EMPLOYEE"
    ROLE = "ROLE"
    IMPORT = "IMPORT"
