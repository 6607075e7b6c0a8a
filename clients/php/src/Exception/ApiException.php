<?php

declare(strict_types=1);

namespace Paywatch\Exception;

/**
 * An error answer of the API: {"error": {"code", "message", "details"?}}.
 *
 * getStatus() is the HTTP status (also getCode()), getErrorCode() the API's
 * error code ("not_found", "invalid_amount", …), getApiMessage() its sentence
 * for people (do not parse it) and getDetails() what some codes add
 * (invalid_batch: the bad items; watch_exists: the stored watch). An answer
 * without paywatch's error envelope (from a proxy, say) has the code
 * "http_<status>".
 */
class ApiException extends PaywatchException
{
    /** @var array<int, class-string<ApiException>> */
    private const BY_STATUS = [
        400 => BadRequestException::class,
        401 => AuthenticationException::class,
        403 => PermissionDeniedException::class,
        404 => NotFoundException::class,
        405 => MethodNotAllowedException::class,
        408 => RequestTimeoutException::class,
        409 => ConflictException::class,
        413 => PayloadTooLargeException::class,
        415 => UnsupportedMediaTypeException::class,
        422 => UnprocessableEntityException::class,
        503 => ServiceUnavailableException::class,
    ];

    final public function __construct(
        private readonly int $status,
        private readonly string $errorCode,
        private readonly string $apiMessage,
        private readonly mixed $details = null,
        private readonly string $body = '',
    ) {
        parent::__construct("{$status} {$errorCode}: {$apiMessage}", $status);
    }

    /** The exception for an error answer: its class from the status, code and message from the body. */
    public static function fromResponse(int $status, string $body): self
    {
        $code = 'http_' . $status;
        $message = trim(substr($body, 0, 200));
        if ($message === '') {
            $message = 'HTTP ' . $status;
        }
        $details = null;
        try {
            $envelope = json_decode($body, true, 512, JSON_THROW_ON_ERROR | JSON_BIGINT_AS_STRING);
        } catch (\JsonException) {
            $envelope = null;
        }
        if (is_array($envelope) && isset($envelope['error']) && is_array($envelope['error'])) {
            $error = $envelope['error'];
            if (isset($error['code']) && is_string($error['code'])) {
                $code = $error['code'];
            }
            if (isset($error['message']) && is_string($error['message'])) {
                $message = $error['message'];
            }
            $details = $error['details'] ?? null;
        }
        $class = self::BY_STATUS[$status] ?? ($status >= 500 ? ServerException::class : self::class);
        return new $class($status, $code, $message, $details, $body);
    }

    public function getStatus(): int
    {
        return $this->status;
    }

    /** The API's error code (see ErrorCode), or "http_<status>". */
    public function getErrorCode(): string
    {
        return $this->errorCode;
    }

    public function getApiMessage(): string
    {
        return $this->apiMessage;
    }

    public function getDetails(): mixed
    {
        return $this->details;
    }

    public function getBody(): string
    {
        return $this->body;
    }
}
