"""The commitment letter (承诺书) a householder accepts before opening a family account.

The wording is our own. Its version and SHA-256 are stored with the account, so it is
always known which text a householder agreed to; change the text → change the version.
"""

from __future__ import annotations

import hashlib

LETTER_VERSION = "2026.1"

# A backslash at the end of a line continues that line of the letter (keeps the source within
# 100 columns without changing the text, and so LETTER_SHA256).
LETTER_TEXT = """\
《医保个人账户家庭共济承诺书》（{version}）

本人自愿开通职工医保个人账户家庭共济，并承诺：
1. 我同意由我绑定的近亲属，在定点医疗机构和定点药店使用我的个人账户资金，\
支付其本人负担的医疗费用，以及本地区允许的居民医保、长护险等缴费。
2. 共济资金只用于上述医疗保障用途，不提取现金，不用于其他消费；统筹基金不参与共济。
3. 我可以为每位亲属设置累计使用限额；在限额和我的账户余额之内发生的支付，视为经我同意。
4. 我对自己绑定的人员负责：我确认填写的身份信息真实，并已告知对方本次绑定。\
对方会收到通知，能看到是谁绑定了他/她。
5. 亲属就医时使用其本人的医保卡或医保电子凭证，钱可以共济，卡不能共用。
6. 我可以随时解除绑定；解除后该亲属不能再使用我的个人账户，已发生的支付不退回。
7. 因提供虚假信息或违规使用造成的损失和责任，由我本人承担。

点击下方“同意并开通”即表示您已阅读并同意以上内容。"""


def letter_text() -> str:
    """The full letter as shown to the householder."""
    return LETTER_TEXT.format(version=LETTER_VERSION)


LETTER_SHA256 = hashlib.sha256(letter_text().encode("utf-8")).hexdigest()
