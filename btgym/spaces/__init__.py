"""btgym spaces: :class:`DictSpace` and :class:`ActionDictSpace` on gymnasium spaces."""

from btgym.spaces.action import ActionDictSpace
from btgym.spaces.dict_space import DictSpace

__all__ = ["ActionDictSpace", "DictSpace"]
