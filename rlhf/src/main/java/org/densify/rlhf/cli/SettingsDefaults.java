package org.densify.rlhf.cli;

import java.util.Map;
import picocli.CommandLine;
import picocli.CommandLine.Model.ArgSpec;
import picocli.CommandLine.Model.OptionSpec;

/**
 * A command's option defaults read from its job's settings object, so that each default is written
 * once, there: an option whose name (without its dashes) is one of {@link #values()}' keys gets that
 * value as its default, and {@code ${DEFAULT-VALUE}} in its description shows it.
 */
abstract class SettingsDefaults implements CommandLine.IDefaultValueProvider {

    /** Option name without its leading dashes, to default value. */
    abstract Map<String, ?> values();

    @Override
    public String defaultValue(ArgSpec arg) {
        if (!(arg instanceof OptionSpec option)) return null;
        Object value = values().get(option.longestName().replaceFirst("^-+", ""));
        return value == null ? null : plain(value);
    }

    /** 10000 rather than 10000.0, 5e-5 rather than 5.0E-5: as the value would be typed. */
    static String plain(Object value) {
        if (!(value instanceof Double || value instanceof Float)) return value.toString();
        double d = ((Number) value).doubleValue();
        if (d == Math.rint(d) && Math.abs(d) < 1e15) return Long.toString((long) d);
        return Double.toString(d).replace(".0E", "E").replace('E', 'e');
    }
}
