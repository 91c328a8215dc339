"""Which liquidation rules an Aave pool ran at a block, and what they give for one liquidation.

Pure functions of values read from the pool (configuration bitmaps, e-mode data, balances, prices,
the health factor): :mod:`toolkit.protocols.aave_enrich` reads them at the state block, another reader
(a prestate trace, a reader contract) can feed the same functions.

**The pool's rule generation at a block** (:class:`PoolRules`) is found by the view functions the Pool
answers there, not by its revision number (``POOL_REVISION`` is 1 in @aave/core-v3 1.19.3 and 10 in
aave-v3-origin 3.6.0, but upgrades, L2 pools and forks number their own; docs/sources/aave.md#aave-pool-version):

* ``getReserveDeficit(asset)`` answers -> v3.3+ (bad-debt deficit and the v3.3 close factor came
  together in 3.3; docs/sources/aave.md#aave-v33-close-factor); a ``DeficitCreated`` in the
  transaction says the same;
* ``getEModeCategoryCollateralBitmap(id)`` answers -> v3.2+ ("liquid e-modes": membership by the
  category's collateral bitmap, no category price source; docs/sources/aave.md#aave-v32-emode);
* neither -> v3.0-3.1 (e-mode by the collateral reserve's configuration bits 168-175 and the category's
  price source; docs/sources/aave.md#aave-v30-liquidation). The bitmap is only probed for a borrower in
  an e-mode category, so other rows say "v3.0-3.2" when the deficit probe fails.

**E-mode** (:func:`emode_v30`, :func:`emode_v32`): the category's liquidation threshold and bonus replace the
reserve's for the liquidated collateral when the borrower is in a category and (v3.0-3.1) the collateral
reserve's category bits equal it, or (v3.2+) the collateral reserve's id is set in the category's
``collateralBitmap``. In v3.2+ the reserve bits are deprecated and no longer updated, so on upgraded
pools they may still hold a stale category.

**Close factor** (:func:`close_factor`): v2 50 %; v3.0-3.2 50 % of the reserve's debt, 100 % when the
health factor is at or below 0.95; v3.3+ 100 % of the reserve's debt when the borrower's collateral or
debt in the liquidated reserves is below ``MIN_BASE_MAX_CLOSE_FACTOR_THRESHOLD`` (2000e8 base units) or the
health factor is at or below 0.95, else at most 50 % of the *whole position's* debt in base currency.
"""

from __future__ import annotations

from dataclasses import dataclass

from toolkit.protocols.aave_fees import PERCENTAGE_FACTOR, percent_mul

#: v3 ``CLOSE_FACTOR_HF_THRESHOLD`` (wad): at or below it the whole reserve debt may be repaid.
CLOSE_FACTOR_HF_THRESHOLD = 95 * 10**16
#: ``DEFAULT_LIQUIDATION_CLOSE_FACTOR`` (v3) and ``LIQUIDATION_CLOSE_FACTOR_PERCENT`` (v2), bps.
DEFAULT_CLOSE_FACTOR = 5_000
#: v3.3+ ``MIN_BASE_MAX_CLOSE_FACTOR_THRESHOLD``: 2000 in base-currency units of 1e8 (USD).
MIN_BASE_MAX_CLOSE_FACTOR_THRESHOLD = 2_000 * 10**8
WAD = 10**18

_SOURCE_V2 = "docs/sources/aave.md#aave-v2-close-factor"
_SOURCE_V30 = "docs/sources/aave.md#aave-v30-liquidation"
_SOURCE_V33 = "docs/sources/aave.md#aave-v33-close-factor"
_SOURCE_V32 = "docs/sources/aave.md#aave-v32-emode"


@dataclass(frozen=True)
class ReserveConfig:
    """Fields of the reserve configuration bitmap ``Pool.getConfiguration(asset)`` (bps unless said):
    bits 0-15 LTV, 16-31 liquidation threshold, 32-47 liquidation bonus (including 100 %), 48-55 decimals,
    152-167 liquidation protocol fee (v3), 168-175 e-mode category (v3.0-3.1; deprecated in v3.2+)
    (docs/sources/aave.md#aave-reserve-configuration)."""

    ltv_bps: int
    liquidation_threshold_bps: int
    liquidation_bonus_bps: int
    decimals: int
    protocol_fee_bps: int
    emode_category: int

    @classmethod
    def from_bitmap(cls, data: int, aave_version: int) -> ReserveConfig:
        def bits(start: int, width: int) -> int:
            return (data >> start) & ((1 << width) - 1)

        v3 = aave_version >= 3
        return cls(bits(0, 16), bits(16, 16), bits(32, 16), bits(48, 8),
                   bits(152, 16) if v3 else 0, bits(168, 8) if v3 else 0)


@dataclass(frozen=True)
class PoolRules:
    """The rule generation of a pool at a block.

    :ivar aave_version: 2 or 3 (the registry's ``aave_version``).
    :ivar deficit: v3.3+ -- ``getReserveDeficit`` answered (or a ``DeficitCreated`` was emitted).
    :ivar emode_bitmap: v3.2+ e-mode -- ``getEModeCategoryCollateralBitmap`` answered; None when not
        probed (borrower in no category, or v3.3+ which implies it).
    """

    aave_version: int
    deficit: bool = False
    emode_bitmap: bool | None = None

    @property
    def bitmap_emode(self) -> bool:
        """E-mode membership by the category's collateral bitmap (v3.2+)."""
        return self.aave_version >= 3 and (self.deficit or bool(self.emode_bitmap))

    @property
    def label(self) -> str:
        """``Aave v2``, ``Aave v3.3+``, ``Aave v3.2``, ``Aave v3.0-3.1`` or ``Aave v3.0-3.2`` (not probed)."""
        if self.aave_version < 3:
            return "Aave v2"
        if self.deficit:
            return "Aave v3.3+ (Pool.getReserveDeficit answers)"
        if self.emode_bitmap is None:
            return "Aave v3.0-3.2 (no Pool.getReserveDeficit)"
        if self.emode_bitmap:
            return "Aave v3.2 (Pool.getEModeCategoryCollateralBitmap answers, no getReserveDeficit)"
        return "Aave v3.0-3.1 (no Pool.getEModeCategoryCollateralBitmap)"


@dataclass(frozen=True)
class EModeApplied:
    """The liquidation threshold and bonus that apply to the liquidated collateral.

    :ivar category: the e-mode category whose values apply; 0 when the reserve's own apply.
    :ivar price_source: v3.0-3.1 category price source replacing the assets as oracle keys (None: none).
    :ivar rule: how it was decided, with its source.
    """

    category: int
    liquidation_threshold_bps: int
    liquidation_bonus_bps: int
    price_source: str | None
    rule: str


def no_emode(reserve: ReserveConfig, user_category: int = 0, why: str = "") -> EModeApplied:
    """The reserve's own threshold and bonus."""
    rule = "no e-mode" if user_category == 0 else f"borrower in e-mode {user_category}, {why}: reserve parameters"
    return EModeApplied(0, reserve.liquidation_threshold_bps, reserve.liquidation_bonus_bps, None, rule)


def emode_v30(user_category: int, collateral: ReserveConfig, category_threshold_bps: int, category_bonus_bps: int,
              category_price_source: str) -> EModeApplied:
    """v3.0-3.1 (``LiquidationLogic._getConfigurationData``): the category applies when the collateral
    reserve's bits 168-175 equal the borrower's category; a non-zero category price source replaces the
    debt's oracle key always and the collateral's when it is in the category (see :func:`price_keys_v30`)."""
    source = None if int(category_price_source, 16) == 0 else category_price_source.lower()
    if user_category == 0:
        return no_emode(collateral)
    if collateral.emode_category != user_category:
        applied = no_emode(collateral, user_category,
                           f"collateral reserve in category {collateral.emode_category} (bits 168-175)")
        return EModeApplied(0, applied.liquidation_threshold_bps, applied.liquidation_bonus_bps, source,
                            applied.rule)
    return EModeApplied(user_category, category_threshold_bps, category_bonus_bps, source,
                        f"e-mode {user_category}: collateral reserve's configuration bits 168-175 "
                        f"({_SOURCE_V30})")


def emode_v32(user_category: int, collateral: ReserveConfig, collateral_reserve_id: int, collateral_bitmap: int,
              category_threshold_bps: int, category_bonus_bps: int) -> EModeApplied:
    """v3.2+: the category applies when bit ``collateral_reserve_id`` of its ``collateralBitmap`` is set
    (``EModeConfiguration.isReserveEnabledOnBitmap``); no price source."""
    if user_category == 0:
        return no_emode(collateral)
    if not (collateral_bitmap >> collateral_reserve_id) & 1:
        return no_emode(collateral, user_category, f"collateral (reserve id {collateral_reserve_id}) "
                        f"not in the category's collateralBitmap ({_SOURCE_V32})")
    return EModeApplied(user_category, category_threshold_bps, category_bonus_bps, None,
                        f"e-mode {user_category}: collateral reserve id {collateral_reserve_id} in the "
                        f"category's collateralBitmap ({_SOURCE_V32})")


def price_keys_v30(applied: EModeApplied, user_category: int, debt: str, collateral: str) -> tuple[str, str]:
    """Oracle keys (debt, collateral) of v3.0-3.1: the category's price source when it has one (the
    collateral's only when the category applies to it); the assets otherwise and in v3.2+."""
    if user_category == 0 or applied.price_source is None:
        return debt, collateral
    return applied.price_source, (applied.price_source if applied.category == user_category else collateral)


@dataclass(frozen=True)
class Position:
    """What the v3.3 close factor reads of the borrower at the state block, in the pool's units.

    :ivar reserve_debt_raw: the borrower's debt in the liquidated debt reserve (variable debt token
        ``balanceOf``), base units of the debt asset.
    :ivar reserve_collateral_raw: the borrower's aToken balance of the liquidated collateral.
    :ivar total_debt_base: ``getUserAccountData`` ``totalDebtBase`` (base-currency units).
    """

    reserve_debt_raw: int
    reserve_collateral_raw: int
    total_debt_base: int
    debt_price: int
    collateral_price: int
    debt_decimals: int
    collateral_decimals: int


@dataclass(frozen=True)
class CloseFactor:
    """The close factor of one liquidation.

    :ivar bps: largest share of the borrower's debt in the debt reserve this liquidation could repay
        (None when it could not be decided).
    :ivar max_debt_raw: that largest amount in debt-asset base units (None when the reserve debt was not read).
    :ivar rule: the rule and why, with its source.
    """

    bps: int | None
    max_debt_raw: int | None
    rule: str


def close_factor(rules: PoolRules, health_factor: int, position: Position | None = None,
                 base_unit: int = 10**8) -> CloseFactor:
    """The close factor ``rules`` give. ``position`` is needed for v3.3+ (:class:`Position`);
    ``base_unit`` (the oracle's ``BASE_CURRENCY_UNIT``) only formats the rule's figures."""
    if rules.aave_version < 3:
        return CloseFactor(DEFAULT_CLOSE_FACTOR, None,
                           f"{rules.label}: 50% (LIQUIDATION_CLOSE_FACTOR_PERCENT, {_SOURCE_V2})")
    hf_text = f"health factor {health_factor / WAD:.4f}"
    if not rules.deficit:
        if health_factor <= CLOSE_FACTOR_HF_THRESHOLD:
            return CloseFactor(PERCENTAGE_FACTOR, None, f"{rules.label}: 100% of the reserve's debt, "
                               f"{hf_text} <= 0.95 ({_SOURCE_V30})")
        return CloseFactor(DEFAULT_CLOSE_FACTOR, None, f"{rules.label}: 50% of the reserve's debt, "
                           f"{hf_text} > 0.95 ({_SOURCE_V30})")
    if position is None:
        raise ValueError("the v3.3 close factor needs the borrower's position in the reserves")
    return _close_factor_v33(rules, health_factor, position, base_unit, hf_text)


def _close_factor_v33(rules: PoolRules, health_factor: int, p: Position, base_unit: int, hf_text: str) -> CloseFactor:
    """``LiquidationLogic.executeLiquidationCall`` of v3.3+, with v3.5+ rounding (debt value rounded up,
    collateral value down; v3.3-3.4 rounded the debt value down, at most one base unit apart)."""
    debt_unit, coll_unit = 10**p.debt_decimals, 10**p.collateral_decimals
    debt_base = -(-p.reserve_debt_raw * p.debt_price // debt_unit)
    coll_base = p.reserve_collateral_raw * p.collateral_price // coll_unit

    def money(value: int) -> str:
        return f"{value / base_unit:,.2f}"

    threshold = f"MIN_BASE_MAX_CLOSE_FACTOR_THRESHOLD {money(MIN_BASE_MAX_CLOSE_FACTOR_THRESHOLD)}"
    full = CloseFactor(PERCENTAGE_FACTOR, p.reserve_debt_raw, "")
    if coll_base < MIN_BASE_MAX_CLOSE_FACTOR_THRESHOLD:
        why = f"the borrower's collateral in this reserve ({money(coll_base)}) is below {threshold}"
    elif debt_base < MIN_BASE_MAX_CLOSE_FACTOR_THRESHOLD:
        why = f"the borrower's debt in this reserve ({money(debt_base)}) is below {threshold}"
    elif health_factor <= CLOSE_FACTOR_HF_THRESHOLD:
        why = f"{hf_text} <= 0.95"
    else:
        half = percent_mul(p.total_debt_base, DEFAULT_CLOSE_FACTOR)
        if debt_base <= half:
            why = (f"50% of the whole position's debt ({money(half)} of {money(p.total_debt_base)}) covers this "
                   f"reserve's debt ({money(debt_base)}), {hf_text}")
        else:
            max_debt = half * debt_unit // p.debt_price
            bps = (max_debt * PERCENTAGE_FACTOR + p.reserve_debt_raw // 2) // p.reserve_debt_raw  # to the nearest bp
            return CloseFactor(bps, max_debt, f"{rules.label}: 50% of the whole position's debt ({money(half)} of "
                               f"{money(p.total_debt_base)} in base currency) = {bps / 100:.2f}% of this reserve's "
                               f"debt ({money(debt_base)}), {hf_text} > 0.95 ({_SOURCE_V33})")
    return CloseFactor(full.bps, full.max_debt_raw, f"{rules.label}: 100% of the reserve's debt, {why} ({_SOURCE_V33})")
