"""One customer record, reached from any channel identity (email, phone, WeChat, app, ...)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Channel(models.TextChoices):
    WEB = "web", _("Web chat")
    EMAIL = "email", _("Email")
    PHONE = "phone", _("Phone")
    WECHAT = "wechat", _("WeChat")
    WEIBO = "weibo", _("Weibo")
    APP = "app", _("App")
    API = "api", _("API")


class Tier(models.TextChoices):
    REGULAR = "regular", _("Regular")
    VIP = "vip", _("VIP")
    SVIP = "svip", _("High-value VIP")


class CustomerTag(models.Model):
    name = models.CharField(max_length=50, unique=True)

    def __str__(self) -> str:
        return self.name


class Customer(models.Model):
    external_id = models.CharField(max_length=100, unique=True, null=True, blank=True)
    name = models.CharField(_("name"), max_length=150)
    email = models.EmailField(_("email"), blank=True)
    phone = models.CharField(_("phone"), max_length=32, blank=True)
    address = models.CharField(_("address"), max_length=300, blank=True)
    language = models.CharField(max_length=10, default="zh-hans")
    tier = models.CharField(_("tier"), max_length=10, choices=Tier.choices, default=Tier.REGULAR, db_index=True)
    preferred_channel = models.CharField(max_length=10, choices=Channel.choices, default=Channel.WEB)
    consent_marketing = models.BooleanField(default=False)
    consent_data_processing = models.BooleanField(default=True)
    dedicated_agent = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="vip_customers"
    )
    tags = models.ManyToManyField(CustomerTag, blank=True, related_name="customers")
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return self.name

    @property
    def is_vip(self) -> bool:
        return self.tier != Tier.REGULAR


class CustomerIdentity(models.Model):
    """A handle on one channel; unique per channel so a returning contact finds the same record."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="identities")
    channel = models.CharField(max_length=10, choices=Channel.choices)
    value = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["channel", "value"], name="identity_unique")]

    def __str__(self) -> str:
        return f"{self.channel}:{self.value}"
