namespace Sandbox.Gofer.Confinement;

/// <summary>The gofer could not confine itself; the message names the step and the reason,
/// and is printed as is (one line) by `runsc gofer`.</summary>
public sealed class ConfinementException(string message) : Exception(message);
